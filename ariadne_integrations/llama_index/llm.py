"""AriadneLlamaLLM: the routed local backbone as a LlamaIndex ``CustomLLM``.

Why: a LlamaIndex query engine that answers with ``AriadneLlamaLLM`` gets, for every LLM call, the
LoRA adapter the question routes to (one local backbone, many adapters), and the routing decision
comes back in ``CompletionResponse.additional_kwargs`` / ``ChatResponse.additional_kwargs``
(adapter, score, margin, abstained, runner-up) so traces show which adapter answered.

Routing text: LlamaIndex wraps the user's question in templates ("Context information is below ...
Query: <question> Answer:"). Routing on the whole template would route on the retrieved context
and the boilerplate, so by default :func:`query_from_prompt` extracts the question from LlamaIndex's
QA / summarise / refine templates and routes on that; anything else is routed as it is. Pass
``route_text_fn`` to change it.

Everything heavy loads lazily: construction only reads the index's ``index.json``.
"""
from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Sequence

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM

from ariadne_integrations.errors import InvalidInputError
from ariadne_integrations.runtime.generation import GenerationConfig, GenerationResult

if TYPE_CHECKING:  # pragma: no cover
    from ariadne_integrations.routed import RoutedGenerator
    from ariadne_integrations.routing.decision import RouteDecision

__all__ = ["AriadneLlamaLLM", "query_from_prompt"]

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"

_QUERY_PATTERNS = (
    re.compile(r"Query:\s*(.+?)\s*\n\s*Answer:", re.DOTALL),  # text QA / tree summarize / simple summarize
    re.compile(r"original query is as follows:\s*(.+?)\s*\n", re.DOTALL),  # refine
)


def query_from_prompt(text: str) -> str:
    """The user's question inside a LlamaIndex QA/summarise/refine prompt, else ``text`` unchanged."""
    for pat in _QUERY_PATTERNS:
        matches = pat.findall(text)
        if matches and matches[-1].strip():
            return matches[-1].strip()
    return text


_ROLE_MAP = {
    MessageRole.SYSTEM: "system",
    MessageRole.DEVELOPER: "system",
    MessageRole.USER: "user",
    MessageRole.ASSISTANT: "assistant",
    MessageRole.CHATBOT: "assistant",
    MessageRole.MODEL: "assistant",
}


def _to_messages(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    out = []
    for m in messages:
        role = _ROLE_MAP.get(m.role, "user")  # tool/function results are shown to the model as user turns
        out.append({"role": role, "content": m.content or ""})
    return out


class AriadneLlamaLLM(CustomLLM):
    """A LlamaIndex LLM over :class:`~ariadne_integrations.routed.RoutedGenerator`.

    Build it with ``AriadneLlamaLLM(index="index_dir")`` (adapters from the index, backbone default =
    embedded SmolLM2), ``AriadneLlamaLLM.from_generator(generator)``, or with neither for the bare
    backbone. ``adapter="name"`` forces one adapter, ``adapter="__base__"`` the bare backbone (no
    routing); per call, ``complete(prompt, adapter=...)`` does the same.
    """

    index: Optional[str] = Field(default=None, description="Routing index folder (adapter paths recorded in it).")
    backbone: Optional[str] = Field(default=None, description="Backbone hub id or path; None = embedded SmolLM2.")
    adapter: Optional[str] = Field(default=None, description="Force an adapter; '__base__' = none; None = route.")
    max_new_tokens: int = Field(default=128, gt=0, description="Tokens to generate per call (num_output).")
    temperature: float = Field(default=0.0, ge=0.0, description="0 = greedy.")
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    stop: list[str] = Field(default_factory=list, description="Stop strings (really stop generation).")
    context_window: int = Field(default=2048, gt=0, description="Prompt budget LlamaIndex packs context into.")
    model_name: Optional[str] = Field(default=None, description="Name reported in metadata; default: the backend's.")
    chat_model: bool = Field(default=True, description="Report is_chat_model (engines then send chat messages).")
    route_text_fn: Optional[Callable[[str], str]] = Field(
        default=query_from_prompt, exclude=True, description="Text to route on, from the prompt / last user message."
    )

    _generator: Any = PrivateAttr(default=None)

    def __init__(self, generator: "RoutedGenerator | None" = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for s in self.stop:
            if not isinstance(s, str) or not s:
                raise InvalidInputError(f"stop sequences must be non-empty strings, got {s!r}")
        if generator is not None:
            from ariadne_integrations.routed import RoutedGenerator

            if not isinstance(generator, RoutedGenerator):
                raise InvalidInputError(f"generator must be a RoutedGenerator, got {type(generator).__name__}")
            self._generator = generator
        elif self.index is not None:
            from ariadne_integrations.routed import RoutedGenerator

            # reads index.json only: a missing/foreign index fails here, models load on first call
            self._generator = RoutedGenerator.from_index(self.index, backbone=self.backbone)
        else:
            from ariadne_integrations.routed import RoutedGenerator

            backbone = self.backbone
            self._generator = RoutedGenerator(None, lambda: _bare_runtime(backbone))
        if self.adapter is not None:
            self._generator.check_adapter(self.adapter)

    @classmethod
    def from_index(cls, index: str, **kwargs: Any) -> "AriadneLlamaLLM":
        """Adapters and routing from a saved index (e.g. ``demo_index_path()``)."""
        return cls(index=str(index), **kwargs)

    @classmethod
    def from_generator(cls, generator: "RoutedGenerator", **kwargs: Any) -> "AriadneLlamaLLM":
        """Wrap an existing RoutedGenerator (shares its router and backend)."""
        return cls(generator=generator, **kwargs)

    @classmethod
    def class_name(cls) -> str:
        return "AriadneLlamaLLM"

    @property
    def generator(self) -> "RoutedGenerator":
        return self._generator

    @property
    def metadata(self) -> LLMMetadata:
        """Cheap: reports the backend's model name only once it is loaded (never loads it)."""
        name = self.model_name
        if name is None:
            gen = self._generator
            if gen is not None and gen.loaded:
                name = gen.model_name
            else:
                name = self.backbone or DEFAULT_MODEL_NAME
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.max_new_tokens,
            is_chat_model=self.chat_model,
            model_name=str(name),
        )

    # ------------------------------------------------------------------ helpers
    def _config(self, kwargs: Dict[str, Any]) -> GenerationConfig:
        stop = kwargs.get("stop")
        return GenerationConfig(
            max_new_tokens=int(kwargs.get("max_new_tokens", kwargs.get("max_tokens", self.max_new_tokens))),
            temperature=float(kwargs.get("temperature", self.temperature)),
            top_p=float(kwargs.get("top_p", self.top_p)),
            stop=tuple(self.stop if stop is None else stop),
        )

    def _route_text(self, text: str) -> str:
        fn = self.route_text_fn
        out = fn(text) if fn is not None else text
        return out if isinstance(out, str) and out.strip() else text

    @staticmethod
    def _info(decision: "RouteDecision", forced: bool, result: GenerationResult | None = None) -> dict[str, Any]:
        from ariadne_integrations.routed import decision_fields

        info = decision_fields(decision, forced)
        info["scores"] = dict(decision.scores)
        if result is not None:
            info.update(
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                total_tokens=result.total_tokens,
                finish_reason=result.finish_reason,
            )
        return info

    def _adapter(self, kwargs: Dict[str, Any]) -> str | None:
        return kwargs.get("adapter", self.adapter)

    # ------------------------------------------------------------------ completion
    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """One routed completion; ``additional_kwargs`` carries the routing decision and token counts."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidInputError("the prompt is empty; give the text to complete")
        text = prompt if formatted else self.completion_to_prompt(prompt)
        res = self._generator.generate(
            [text], self._config(kwargs), route_texts=[self._route_text(prompt)], adapter=self._adapter(kwargs)
        )[0]
        return CompletionResponse(text=res.result.text, raw=res.result.to_dict(),
                                  additional_kwargs=self._info(res.decision, res.forced, res.result))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        """Stream a routed completion; every chunk carries the decision, the last one the token counts."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidInputError("the prompt is empty; give the text to complete")
        text = prompt if formatted else self.completion_to_prompt(prompt)
        adapter = self._adapter(kwargs)
        decision, chunks = self._generator.stream(
            text, self._config(kwargs), route_text=self._route_text(prompt), adapter=adapter
        )
        forced = self._generator.is_forced(adapter)

        def gen() -> CompletionResponseGen:
            acc = ""
            for ch in chunks:
                acc += ch.text
                yield CompletionResponse(text=acc, delta=ch.text, additional_kwargs=self._chunk_info(decision, forced, ch))

        return gen()

    def _chunk_info(self, decision: "RouteDecision", forced: bool, ch: Any) -> dict[str, Any]:
        info = self._info(decision, forced)
        if getattr(ch, "final", False):
            info.update(prompt_tokens=ch.prompt_tokens, completion_tokens=ch.completion_tokens,
                        finish_reason=ch.finish_reason)
        return info

    # ------------------------------------------------------------------ chat
    def _chat_prompt(self, messages: Sequence[ChatMessage]) -> tuple[list[dict[str, str]], str]:
        from ariadne_integrations.routed import route_text_of, validate_prompt

        msgs = validate_prompt(_to_messages(messages))
        return msgs, self._route_text(route_text_of(msgs))  # type: ignore[arg-type]

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Chat natively (the backend applies the model's chat template); routed on the last user message."""
        msgs, route_text = self._chat_prompt(messages)
        res = self._generator.generate([msgs], self._config(kwargs), route_texts=[route_text],
                                       adapter=self._adapter(kwargs))[0]
        return ChatResponse(
            message=ChatMessage(role=MessageRole.ASSISTANT, content=res.result.text),
            raw=res.result.to_dict(),
            additional_kwargs=self._info(res.decision, res.forced, res.result),
        )

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        msgs, route_text = self._chat_prompt(messages)
        adapter = self._adapter(kwargs)
        decision, chunks = self._generator.stream(msgs, self._config(kwargs), route_text=route_text, adapter=adapter)
        forced = self._generator.is_forced(adapter)

        def gen() -> ChatResponseGen:
            acc = ""
            for ch in chunks:
                acc += ch.text
                yield ChatResponse(
                    message=ChatMessage(role=MessageRole.ASSISTANT, content=acc),
                    delta=ch.text,
                    additional_kwargs=self._chunk_info(decision, forced, ch),
                )

        return gen()

    # ------------------------------------------------------------------ async: keep the event loop free
    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return await asyncio.to_thread(self.complete, prompt, formatted, **kwargs)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return await asyncio.to_thread(self.chat, messages, **kwargs)


def _bare_runtime(backbone: str | None) -> Any:
    """An AdapterRuntime with no adapters (the bare backbone), built on first use."""
    from ariadne_integrations.runtime.adapters import AdapterRuntime

    return AdapterRuntime(backbone=backbone)
