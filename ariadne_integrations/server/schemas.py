"""Request bodies of the OpenAI-compatible routes, and the limits every request is checked against.

Why pydantic models with ``strict`` types: a wrong type (``"max_tokens": "lots"``) must be a 400 that
names the field, not a coercion or a 500. Fields of the OpenAI API this server does not implement are
accepted only at their neutral value (``n=1``, no tools, no logprobs); any other value is a 400 that
says so, rather than an answer that silently ignores it. Keys the API does not have are ignored, as
OpenAI-compatible servers do, so clients that add their own fields keep working.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, Field

from ariadne_integrations.constants import DEFAULT_COALESCE_WINDOW_MS, DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_NEW_TOKENS
from ariadne_integrations.errors import InvalidInputError

__all__ = ["ServerLimits", "ChatCompletionRequest", "CompletionRequest", "ChatMessage", "ROUTED_MODEL", "ROUTED_ALIASES", "ROLES"]

ROUTED_MODEL = "ariadne"
"""The model name that routes each request to the adapter the index picks."""
ROUTED_ALIASES = (ROUTED_MODEL, "auto", "router")
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
"""Message roles of the OpenAI chat API (tool and function results reach the backbone as user turns)."""


@dataclass(frozen=True)
class ServerLimits:
    """What one request (and all of them together) may cost; every bound is configurable.

    ``max_body_bytes``: request body size (413 above it). ``max_tokens``: the largest ``max_tokens`` a
    request may ask for (400 above it); ``default_max_tokens`` when it asks for none. ``max_prompt_tokens``:
    prompt length after the chat template (400 above it). ``max_concurrent``: requests being answered at
    once; one more is refused at once with 429 and ``Retry-After`` (never queued without bound).
    ``max_prompts``: prompts in one ``/v1/completions`` list. ``coalesce_window_ms`` / ``max_batch_size``:
    how concurrent requests are gathered into one mixed-adapter batch (see ``core.coalescing``).
    """

    max_body_bytes: int = 1_000_000
    max_tokens: int = 1024
    default_max_tokens: int = DEFAULT_MAX_NEW_TOKENS
    max_prompt_tokens: int = 4096
    max_concurrent: int = 64
    max_prompts: int = 32
    coalesce_window_ms: float = DEFAULT_COALESCE_WINDOW_MS
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_tokens", "default_max_tokens", "max_prompt_tokens", "max_concurrent",
                     "max_prompts", "max_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{name} must be a positive int, got {value!r}")
        if self.default_max_tokens > self.max_tokens:
            raise InvalidInputError(f"default_max_tokens ({self.default_max_tokens}) exceeds max_tokens ({self.max_tokens})")
        window = self.coalesce_window_ms
        if isinstance(window, bool) or not isinstance(window, (int, float)) or not 0 <= window <= 60_000:
            raise InvalidInputError(f"coalesce_window_ms must be in [0, 60000], got {window!r}")


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class ContentPart(_Body):
    """One part of a message's content list; only ``{"type": "text", "text": ...}`` is served."""

    type: str
    text: str | None = None


class ChatMessage(_Body):
    role: str = Field(min_length=1, max_length=64)
    content: Union[str, list[ContentPart], None] = None
    name: str | None = Field(default=None, max_length=256)

    def text(self, where: str) -> str:
        """The message's text; content parts other than text are a 400 (this backbone reads text only)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        texts = []
        for j, part in enumerate(self.content):
            if part.type != "text" or part.text is None:
                raise InvalidInputError(f"{where}.content[{j}] is of type {part.type!r}; only text parts are supported")
            texts.append(part.text)
        return "".join(texts)


class StreamOptions(_Body):
    include_usage: bool = False


class _Request(_Body):
    """Fields shared by both completion routes."""

    model: str = Field(min_length=1, max_length=512)
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    """Absent = 0 (greedy), unlike OpenAI's default of 1: the adapters are meant to answer deterministically."""
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    stop: Union[str, list[str], None] = None
    seed: int | None = Field(default=None, ge=-(2**63), le=2**64 - 1)
    """The range torch's generator accepts."""
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int | None = None
    logprobs: Any = None
    user: str | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None

    def unsupported(self) -> list[str]:
        """Fields set to a value this server does not implement (each is a 400)."""
        bad = []
        if self.n not in (None, 1):
            bad.append("n")
        if self.logprobs not in (None, False, 0):
            bad.append("logprobs")
        for name in ("frequency_penalty", "presence_penalty"):
            if getattr(self, name) not in (None, 0, 0.0):
                bad.append(name)
        return bad


class ChatCompletionRequest(_Request):
    messages: list[ChatMessage]
    max_completion_tokens: int | None = Field(default=None, ge=1)
    tools: list[Any] | None = None
    tool_choice: Any = None
    response_format: dict[str, Any] | None = None
    top_logprobs: int | None = None

    def unsupported(self) -> list[str]:
        bad = super().unsupported()
        if self.tools:
            bad.append("tools")
        if self.tool_choice not in (None, "none", "auto"):
            bad.append("tool_choice")
        if self.response_format is not None and self.response_format.get("type") != "text":
            bad.append("response_format")
        if self.top_logprobs:
            bad.append("top_logprobs")
        return bad


class CompletionRequest(_Request):
    prompt: Union[str, list[str]]
    echo: bool = False
    best_of: int | None = None
    suffix: str | None = None

    def unsupported(self) -> list[str]:
        bad = super().unsupported()
        if self.echo:
            bad.append("echo")
        if self.best_of not in (None, 1):
            bad.append("best_of")
        if self.suffix:
            bad.append("suffix")
        return bad

