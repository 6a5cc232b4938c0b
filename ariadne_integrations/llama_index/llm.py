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

Structured output: ``structured_predict`` / ``astructured_predict`` / ``stream_structured_predict`` and
``as_structured_llm`` decode under the output class's JSON schema (grammar-constrained decoding, extra
``structured``), so the answer always parses into the class; LlamaIndex's default path for an LLM
without function calling (a text-completion program that hopes the model wrote JSON) is not used.

Everything heavy loads lazily: construction only reads the index's ``index.json``.
"""
from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any, AsyncGenerator, Callable, Dict, Generator, Optional, Sequence, Type

import llama_index.core.instrumentation as instrument
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import BaseModel, Field, ValidationError
from llama_index.core.instrumentation.events.llm import LLMStructuredPredictEndEvent, LLMStructuredPredictStartEvent
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM
from llama_index.core.prompts import BasePromptTemplate

from ariadne_integrations.core.options import RoutedModelOptions
from ariadne_integrations.core.prompts import chat_message, route_text_of, validate_prompt
from ariadne_integrations.core.structured import parse_structured
from ariadne_integrations.errors import InvalidInputError, StructuredOutputError
from ariadne_integrations.llama_index import response_metadata

if TYPE_CHECKING:  # pragma: no cover
    from llama_index.core.prompts import PromptTemplate

    from ariadne_integrations.core.generator import RoutedGenerator, RoutedStream
    from ariadne_integrations.core.options import GenerationConfig

__all__ = ["AriadneLlamaLLM", "query_from_prompt"]

dispatcher = instrument.get_dispatcher(__name__)

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


def _to_messages(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    """LlamaIndex messages -> ``[{"role", "content"}]`` (the core conversion)."""
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, ChatMessage):
            raise InvalidInputError(f"messages[{i}] is a {type(m).__name__}, not a LlamaIndex ChatMessage")
        role = m.role.value if isinstance(m.role, MessageRole) else str(m.role)
        name = m.additional_kwargs.get("name") if isinstance(m.additional_kwargs, dict) else None
        out.append(chat_message(role, m.content or "", name))
    return out


_LLAMA_INDEX_EXTRAS = ("formatted",)
"""Keyword arguments LlamaIndex passes along that are not generation settings."""


class AriadneLlamaLLM(RoutedModelOptions, CustomLLM):
    """A LlamaIndex LLM over the routed backbone (the options of :class:`RoutedModelOptions`).

    Build it with ``AriadneLlamaLLM(index="index_dir")`` (adapters from the index, backbone default =
    embedded SmolLM2), ``AriadneLlamaLLM(router=router)``, ``AriadneLlamaLLM.from_generator(generator)``,
    ``base_url=`` for a multi-LoRA server, or with none of them for the bare backbone.
    ``adapter="name"`` forces one adapter, ``adapter="__base__"`` the bare backbone (no routing); per
    call, ``complete(prompt, adapter=...)`` (or ``model=``) does the same and the settings
    ``max_new_tokens``, ``temperature``, ``top_p``, ``top_k``, ``seed``, ``repetition_penalty`` override;
    ``json_schema=`` constrains that call's answer to a JSON schema (see :meth:`structured_predict`).
    """

    context_window: int = Field(default=2048, gt=0, description="Prompt budget LlamaIndex packs context into.")
    model_name: Optional[str] = Field(default=None, description="Name reported in metadata; default: the backend's.")
    chat_model: bool = Field(default=True, description="Report is_chat_model (engines then send chat messages).")
    route_text_fn: Optional[Callable[[str], str]] = Field(
        default=query_from_prompt, exclude=True, description="Text to route on, from the prompt / last user message."
    )

    def __init__(self, generator: RoutedGenerator | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        response_metadata.install()  # the answering adapter reaches Response.metadata of query engines
        if generator is not None:
            from ariadne_integrations.core.generator import RoutedGenerator

            if not isinstance(generator, RoutedGenerator):
                raise InvalidInputError(f"generator must be a RoutedGenerator, got {type(generator).__name__}")
            if self.adapter is not None:
                generator.check_adapter(self.adapter)
            self._gen = generator

    @classmethod
    def from_index(cls, index: str, **kwargs: Any) -> AriadneLlamaLLM:
        """Adapters and routing from a saved index (e.g. ``demo_index_path()``)."""
        return cls(index=str(index), **kwargs)

    @classmethod
    def from_generator(cls, generator: RoutedGenerator, **kwargs: Any) -> AriadneLlamaLLM:
        """Wrap an existing RoutedGenerator (shares its router and backend)."""
        return cls(generator=generator, **kwargs)

    @classmethod
    def class_name(cls) -> str:
        return "AriadneLlamaLLM"

    @property
    def metadata(self) -> LLMMetadata:
        """Cheap: reports the backend's model name only once it is loaded (never loads it)."""
        name = self.model_name
        if name is None:
            gen = self._gen
            name = gen.model_name if gen is not None and gen.loaded else self.backbone_name
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.max_new_tokens,
            is_chat_model=self.chat_model,
            model_name=str(name),
        )

    # ------------------------------------------------------------------ helpers
    def _settings(self, kwargs: Dict[str, Any]) -> tuple[str | None, GenerationConfig]:
        return self.call_settings(kwargs.pop("stop", None), kwargs, ignore=_LLAMA_INDEX_EXTRAS)

    def _route_text(self, text: str) -> str:
        fn = self.route_text_fn
        out = fn(text) if fn is not None else text
        return out if isinstance(out, str) and out.strip() else text

    def _formatted(self, prompt: str, formatted: bool) -> str:
        fn = self.completion_to_prompt
        return prompt if formatted or fn is None else fn(prompt)

    @staticmethod
    def _check_prompt(prompt: Any) -> None:
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidInputError("the prompt is empty; give the text to complete")

    # ------------------------------------------------------------------ completion
    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """One routed completion; ``additional_kwargs`` carries the routing decision and token counts."""
        return self._complete(prompt, formatted, kwargs)

    def _complete(self, prompt: str, formatted: bool, kwargs: Dict[str, Any]) -> CompletionResponse:
        gen, args, call = self._complete_args(prompt, formatted, kwargs)
        return self._completion(gen.generate(*args, **call)[0], args[1])

    def _complete_args(self, prompt: str, formatted: bool, kwargs: Dict[str, Any]) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
        self._check_prompt(prompt)
        adapter, config = self._settings(kwargs)
        text = self._formatted(prompt, formatted)
        return self.generator, ([text], config), {"route_texts": [self._route_text(prompt)], "adapter": adapter}

    @staticmethod
    def _completion(res: Any, config: GenerationConfig) -> CompletionResponse:
        if config.json_schema is not None:  # a cut structured answer is an error, never unparsable text
            parse_structured(res.text, res.result.finish_reason, config)
        response_metadata.record(res.metadata())
        return CompletionResponse(text=res.text, raw=res.result.to_dict(), additional_kwargs=res.metadata())

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        """Stream a routed completion; every chunk carries the decision, the last one the token counts."""
        self._check_prompt(prompt)
        adapter, config = self._settings(kwargs)
        text = self._formatted(prompt, formatted)
        stream = self.generator.stream(text, config, route_text=self._route_text(prompt), adapter=adapter)

        def gen() -> CompletionResponseGen:
            acc = ""
            for ch in stream:
                acc += ch.text
                if ch.final and config.json_schema is not None:
                    parse_structured(acc, ch.finish_reason, config)
                yield CompletionResponse(text=acc, delta=ch.text, additional_kwargs=stream.metadata())
            response_metadata.record(stream.metadata())

        return gen()

    # ------------------------------------------------------------------ chat
    def _chat_stream(self, messages: Sequence[ChatMessage], kwargs: Dict[str, Any]) -> tuple[RoutedStream, GenerationConfig]:
        msgs = validate_prompt(_to_messages(messages))
        adapter, config = self._settings(kwargs)
        stream = self.generator.stream(msgs, config, route_text=self._route_text(route_text_of(msgs)), adapter=adapter)
        return stream, config

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Chat natively (the backend applies the model's chat template); routed on the last user message."""
        return self._chat(messages, kwargs)

    def _chat(self, messages: Sequence[ChatMessage], kwargs: Dict[str, Any]) -> ChatResponse:
        gen, args, call = self._chat_args(messages, kwargs)
        return self._chat_response(gen.generate(*args, **call)[0], args[1])

    def _chat_args(self, messages: Sequence[ChatMessage], kwargs: Dict[str, Any]) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
        msgs = validate_prompt(_to_messages(messages))
        adapter, config = self._settings(kwargs)
        return self.generator, ([msgs], config), {"route_texts": [self._route_text(route_text_of(msgs))], "adapter": adapter}

    @staticmethod
    def _chat_response(res: Any, config: GenerationConfig) -> ChatResponse:
        if config.json_schema is not None:
            parse_structured(res.text, res.result.finish_reason, config)
        response_metadata.record(res.metadata())
        return ChatResponse(
            message=ChatMessage(role=MessageRole.ASSISTANT, content=res.text),
            raw=res.result.to_dict(),
            additional_kwargs=res.metadata(),
        )

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        stream, config = self._chat_stream(messages, kwargs)

        def gen() -> ChatResponseGen:
            acc = ""
            for ch in stream:
                acc += ch.text
                if ch.final and config.json_schema is not None:
                    parse_structured(acc, ch.finish_reason, config)
                yield ChatResponse(
                    message=ChatMessage(role=MessageRole.ASSISTANT, content=acc),
                    delta=ch.text,
                    additional_kwargs=stream.metadata(),
                )
            response_metadata.record(stream.metadata())

        return gen()

    # ------------------------------------------------------------------ async: keep the event loop free
    # Preparation is cheap and runs in the loop; the model call is awaited (RoutedGenerator.agenerate:
    # concurrent calls share one coalesced batch and hold no worker thread while they wait).
    # A user's own routing / formatting function might block: then preparation runs in a worker thread too.
    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        if self._user_functions():
            gen, args, call = await asyncio.to_thread(self._complete_args, prompt, formatted, kwargs)
        else:
            gen, args, call = self._complete_args(prompt, formatted, kwargs)
        return self._completion((await gen.agenerate(*args, **call))[0], args[1])

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        if self._user_functions():
            gen, args, call = await asyncio.to_thread(self._chat_args, messages, kwargs)
        else:
            gen, args, call = self._chat_args(messages, kwargs)
        return self._chat_response((await gen.agenerate(*args, **call))[0], args[1])

    def _user_functions(self) -> bool:
        from llama_index.core.llms.llm import default_completion_to_prompt

        return (self.route_text_fn not in (None, query_from_prompt)
                or self.completion_to_prompt not in (None, default_completion_to_prompt))

    # ------------------------------------------------------------------ structured output (constrained decoding)
    def _structured(self, output_cls: Type[BaseModel], prompt: BasePromptTemplate, llm_kwargs: Optional[Dict[str, Any]],
                    prompt_args: Dict[str, Any]) -> Any:
        """One routed answer decoded under ``output_cls``'s JSON schema, validated into ``output_cls``."""
        if not (isinstance(output_cls, type) and issubclass(output_cls, BaseModel)):
            raise InvalidInputError(f"output_cls must be a pydantic model class, got {output_cls!r}")
        kwargs = {**(llm_kwargs or {}), "json_schema": output_cls.model_json_schema()}
        if self.metadata.is_chat_model:
            text = self.chat(self._get_messages(prompt, **prompt_args), **kwargs).message.content or ""
        else:
            text = self.complete(self._get_prompt(prompt, **prompt_args), formatted=True, **kwargs).text
        try:
            return output_cls.model_validate_json(text)
        except ValidationError as exc:  # the schema held, a validator beyond it did not
            raise StructuredOutputError(f"the answer follows {output_cls.__name__}'s JSON schema but fails its "
                                        f"validation: {exc}") from exc

    @dispatcher.span
    def structured_predict(self, output_cls: Type[Any], prompt: PromptTemplate, llm_kwargs: Optional[Dict[str, Any]] = None,
                           **prompt_args: Any) -> Any:
        """An ``output_cls`` instance: the prompt's answer decoded under its JSON schema (always parses).

        ``llm_kwargs`` are per-call settings (``max_new_tokens``, ``adapter``, ...); an answer cut by the
        token limit raises :class:`~ariadne_integrations.errors.StructuredOutputError`.
        """
        dispatcher.event(LLMStructuredPredictStartEvent(output_cls=output_cls, template=prompt, template_args=prompt_args))
        result = self._structured(output_cls, prompt, llm_kwargs, prompt_args)
        dispatcher.event(LLMStructuredPredictEndEvent(output=result))
        return result

    @dispatcher.span
    async def astructured_predict(self, output_cls: Type[Any], prompt: PromptTemplate,
                                  llm_kwargs: Optional[Dict[str, Any]] = None, **prompt_args: Any) -> Any:
        """Async :meth:`structured_predict` (generation runs in a worker thread)."""
        dispatcher.event(LLMStructuredPredictStartEvent(output_cls=output_cls, template=prompt, template_args=prompt_args))
        result = await asyncio.to_thread(self._structured, output_cls, prompt, llm_kwargs, prompt_args)
        dispatcher.event(LLMStructuredPredictEndEvent(output=result))
        return result

    # stream_structured_predict / astream_structured_predict (LLM's, with their events) call these hooks:
    # the object is complete only when its JSON is, so the stream yields it once.
    def _structured_stream_call(self, output_cls: Type[Any], prompt: PromptTemplate, llm_kwargs: Optional[Dict[str, Any]] = None,
                                **prompt_args: Any) -> Generator[Any, None, None]:
        def gen() -> Generator[Any, None, None]:
            yield self._structured(output_cls, prompt, llm_kwargs, prompt_args)

        return gen()

    async def _structured_astream_call(self, output_cls: Type[Any], prompt: PromptTemplate,
                                       llm_kwargs: Optional[Dict[str, Any]] = None, **prompt_args: Any) -> AsyncGenerator[Any, None]:
        async def gen() -> AsyncGenerator[Any, None]:
            yield await asyncio.to_thread(self._structured, output_cls, prompt, llm_kwargs, prompt_args)

        return gen()
