"""Generation settings, results, and the backend interface the integrations talk to.

The LangChain and LlamaIndex wrappers only see :class:`GenerationBackend`, so the same chain can
move from the in-process runtime to an OpenAI-compatible multi-LoRA server without code changes.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, AsyncIterator, Iterator, Mapping, Protocol, Sequence, Union, runtime_checkable

from ariadne_integrations.errors import InvalidInputError

Message = dict[str, str]  # {"role": "user"|"system"|"assistant", "content": "..."}
Prompt = Union[str, Sequence[Message]]
"""A prompt is raw text (wrapped as one user message when a chat template applies) or chat messages."""


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding settings for one call. ``temperature == 0`` means greedy.

    ``json_schema``: a JSON schema (as JSON text; a dict is converted) the answer must follow. The local
    runtime constrains decoding to it (grammar-constrained decoding, extra ``structured``) and the answer
    ends where the JSON ends; an OpenAI-compatible server gets it as ``response_format``. An answer
    cut by ``max_new_tokens`` before the JSON is complete reports ``finish_reason="length"``.
    """

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int | None = None
    repetition_penalty: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    apply_chat_template: bool = True
    json_schema: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise InvalidInputError(f"max_new_tokens must be a positive int, got {self.max_new_tokens!r}")
        if self.temperature < 0:
            raise InvalidInputError(f"temperature must be >= 0, got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            raise InvalidInputError(f"top_p must be in (0, 1], got {self.top_p!r}")
        stop = tuple(self.stop or ())
        for s in stop:
            if not isinstance(s, str) or s == "":
                raise InvalidInputError(f"stop sequences must be non-empty strings, got {s!r}")
        object.__setattr__(self, "stop", stop)
        if self.json_schema is not None:
            object.__setattr__(self, "json_schema", schema_text(self.json_schema))

    @property
    def do_sample(self) -> bool:
        return self.temperature > 0

    def override(self, **changes: Any) -> GenerationConfig:
        """A copy with ``changes`` applied; an unknown setting is an error that lists the known ones.

        ``max_tokens`` (the OpenAI spelling) is accepted for ``max_new_tokens``; ``None`` values are
        ignored, so callers can pass optional per-call settings through unchanged.
        """
        if "max_tokens" in changes:
            alias = changes.pop("max_tokens")
            if changes.get("max_new_tokens") is None:
                changes["max_new_tokens"] = alias
        known = {f.name for f in fields(self)}
        unknown = sorted(k for k in changes if k not in known)
        if unknown:
            raise InvalidInputError(
                f"unsupported generation setting(s) {unknown}; supported: {sorted(known | {'max_tokens'})}"
            )
        updates = {k: v for k, v in changes.items() if v is not None}
        if "stop" in updates:
            stop = updates["stop"]
            updates["stop"] = (stop,) if isinstance(stop, str) else tuple(stop)
        return replace(self, **updates) if updates else self


def schema_text(schema: str | Mapping[str, Any]) -> str:
    """A JSON schema as compact JSON text (the hashable form :class:`GenerationConfig` keeps).

    Accepts a dict or JSON text; the schema must be a JSON object (key order is kept: it is the order
    the constrained answer writes the properties in).
    """
    if isinstance(schema, Mapping):
        obj: Any = dict(schema)
    elif isinstance(schema, str):
        try:
            obj = json.loads(schema)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"json_schema is not valid JSON: {exc}") from None
    else:
        raise InvalidInputError(f"json_schema must be a JSON schema (dict or JSON text), got {type(schema).__name__}")
    if not isinstance(obj, dict):
        raise InvalidInputError(f"json_schema must be a JSON object (a schema), got {type(obj).__name__}")
    try:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"json_schema cannot be written as JSON: {exc}") from None


@dataclass
class GenerationResult:
    """One completion. ``finish_reason`` is "stop" (EOS or a stop string) or "length"."""

    text: str
    adapter: str | None
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"
    stop_sequence: str | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CompletionScore:
    """How likely a completion is after its prompt under one adapter: the summed log-probability of its
    tokens (the end-of-answer token included when scored so) and how many tokens that is."""

    logprob: float
    tokens: int

    @property
    def mean_logprob(self) -> float:
        """Per-token log-probability (comparable across answers of different lengths)."""
        return self.logprob / self.tokens if self.tokens else 0.0


@dataclass
class StreamChunk:
    """A piece of streamed text. The last chunk has ``final=True`` and carries the usage counts."""

    text: str
    final: bool = False
    adapter: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class GenerationBackend(Protocol):
    """What the integrations need from a generator. ``adapters[i]`` is the adapter for ``prompts[i]``
    (``None`` = the bare backbone). Implementations must be safe to call from several threads."""

    @property
    def model_name(self) -> str: ...

    def generate(
        self, prompts: Sequence[Prompt], adapters: Sequence[str | None], config: GenerationConfig
    ) -> list[GenerationResult]: ...

    def stream(self, prompt: Prompt, adapter: str | None, config: GenerationConfig) -> Iterator[StreamChunk]: ...

    def has_adapter(self, name: str) -> bool: ...


@runtime_checkable
class AsyncGenerationBackend(GenerationBackend, Protocol):
    """A backend that also answers on the caller's event loop (no worker thread), e.g. an
    OpenAI-compatible server through ``AsyncOpenAI``. Optional: ``core`` uses these when a backend has
    them (:func:`is_async_backend`) and otherwise runs the sync methods in a worker thread; the local
    runtime has none (its work is on the CPU / GPU, batched by the coalescer)."""

    async def agenerate(
        self, prompts: Sequence[Prompt], adapters: Sequence[str | None], config: GenerationConfig
    ) -> list[GenerationResult]: ...

    def astream(self, prompt: Prompt, adapter: str | None, config: GenerationConfig) -> AsyncIterator[StreamChunk]: ...

    async def ahas_adapter(self, name: str) -> bool: ...


def is_async_backend(backend: Any) -> bool:
    """Whether ``backend`` has the async methods of :class:`AsyncGenerationBackend`."""
    return all(callable(getattr(backend, m, None)) for m in ("agenerate", "astream", "ahas_adapter"))
