"""ChatAriadne: a LangChain chat model over the routed backbone (chat template applied by the runtime).

Why a separate class from AriadneLLM: chat messages keep their roles (system / user / assistant)
and the routing input is chosen among them (by default the last human message, since that is the
request; earlier turns and system prompts would blur the routing).
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
import os
from typing import Any, AsyncIterator, Callable, Iterator, Literal, Sequence

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ChatMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableConfig
from pydantic import AliasChoices, ConfigDict, Field, field_validator

from ariadne_integrations.core.async_bridge import aiter_in_thread
from ariadne_integrations.core.prompts import chat_message, check_route_text, route_text_of, validate_prompt
from ariadne_integrations.errors import InvalidInputError
from ariadne_integrations.langchain._base import AriadneLangChainBase, served_model_name

__all__ = ["ChatAriadne", "to_chat_messages", "routing_text"]

logger = logging.getLogger(__name__)

# Results computed ahead by ChatAriadne.batch in ONE mixed-adapter call, consumed by the per-input
# _generate calls that BaseChatModel.batch then makes (so callbacks and traces stay per input).
_PREFETCH: contextvars.ContextVar[dict[Any, list[Any]] | None] = contextvars.ContextVar("ariadne_chat_prefetch", default=None)

RouteOn = Literal["last_human", "all_human", "all"]
_ROUTE_ON = {"last_human": "last_user", "all_human": "all_user", "all": "all"}


def to_chat_messages(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    """LangChain messages -> ``[{"role", "content"}]`` for the backbone's chat template (core conversion)."""
    out: list[dict[str, str]] = []
    for i, m in enumerate(messages):
        if not isinstance(m, BaseMessage):
            raise InvalidInputError(f"messages[{i}] is a {type(m).__name__}, not a LangChain message")
        role = m.role if isinstance(m, ChatMessage) else m.type
        out.append(chat_message(role, str(m.text), getattr(m, "name", None)))
    return out


def routing_text(messages: Sequence[BaseMessage], route_on: RouteOn | Callable[[list[BaseMessage]], str]) -> str:
    """The text a conversation is routed on."""
    if callable(route_on):
        return check_route_text(route_on(list(messages)), "route_on")
    return route_text_of(to_chat_messages(messages), on=_ROUTE_ON[route_on])


class ChatAriadne(AriadneLangChainBase, BaseChatModel):
    """Routed chat model: each conversation goes to the LoRA adapter its request routes to.

    ``ChatAriadne(index=path)`` is enough (nothing loads until the first call). ``model=``
    (constructor or per call) names the adapter to use, as with vLLM / LoRAX multi-LoRA servers;
    ``response_metadata`` reports ``model_name`` (``backbone:adapter``), ``finish_reason`` and the
    routing decision (``adapter``, ``score``, ``margin``, ``abstained``, ``best``, ``runner_up``, ``forced``).
    """

    model_config = ConfigDict(extra="forbid")  # a misspelt keyword is an error, not silently ignored

    adapter: str | None = Field(default=None, validation_alias=AliasChoices("adapter", "model"))
    """Force this adapter (alias ``model``); ``"__base__"`` = bare backbone; None = route."""
    streaming: bool = False
    route_on: Any = "last_human"
    """``"last_human"`` (default), ``"all_human"``, ``"all"``, or a callable ``list[BaseMessage] -> str``."""

    @field_validator("route_on")
    @classmethod
    def _check_route_on(cls, v: Any) -> Any:
        if not (callable(v) or v in _ROUTE_ON):
            raise InvalidInputError(f"route_on must be 'last_human', 'all_human', 'all' or a callable, got {v!r}")
        return v

    @classmethod
    def from_index(cls, index: str | os.PathLike[str], **kwargs: Any) -> ChatAriadne:
        return cls(index=index, **kwargs)

    @property
    def model_name(self) -> str:
        """The backbone's name (without loading it)."""
        return self.backbone_name

    @property
    def _llm_type(self) -> str:
        return "ariadne-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {**self._identifying(), "route_on": self.route_on if isinstance(self.route_on, str) else "callable"}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = self._ls_common(super()._get_ls_params(stop=stop, **kwargs), stop, kwargs)
        params["ls_model_type"] = "chat"
        return params

    def get_num_tokens_from_messages(self, messages: list[BaseMessage], tools: Sequence[Any] | None = None) -> int:
        """Prompt tokens of a conversation as the backbone sees it (its chat template applied)."""
        count = self.generator.count_tokens(to_chat_messages(messages))
        return super().get_num_tokens_from_messages(messages, tools) if count is None else count

    # ------------------------------------------------------------------ generation
    def _prepare(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> tuple[Any, ...]:
        gen = self.generator
        if not messages:
            raise InvalidInputError("messages is empty: give at least one message")
        chat = validate_prompt(to_chat_messages(messages))
        adapter, config = self._call_settings(stop, kwargs)
        return gen, chat, routing_text(messages, self.route_on), adapter, config

    @staticmethod
    def _key(chat: list[dict[str, str]], route_text: str, adapter: str | None, config: Any) -> Any:
        return (tuple((m["role"], m["content"]) for m in chat), route_text, adapter, config)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """One routed answer; concurrent calls share one mixed-adapter batch (``coalesce_window_ms``)."""
        gen, chat, route_text, adapter, config = self._prepare(messages, stop, kwargs)
        r = self._prefetched(chat, route_text, adapter, config)
        if r is None:
            (r,) = gen.generate([chat], config, route_texts=[route_text], adapter=adapter)
        return self._chat_result(gen, r)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """``_generate`` without blocking the event loop: concurrent ``ainvoke`` calls wait for their
        shared batch without holding worker threads."""
        if callable(self.route_on):  # a user's routing function might block: not on the event loop
            gen, chat, route_text, adapter, config = await asyncio.to_thread(self._prepare, messages, stop, kwargs)
        else:
            gen, chat, route_text, adapter, config = self._prepare(messages, stop, kwargs)
        r = self._prefetched(chat, route_text, adapter, config)
        if r is None:
            (r,) = await gen.agenerate([chat], config, route_texts=[route_text], adapter=adapter)
        return self._chat_result(gen, r)

    def _prefetched(self, chat: list[dict[str, str]], route_text: str, adapter: str | None, config: Any) -> Any:
        """This input's result computed ahead by :meth:`batch` (None outside a batch)."""
        ready = _PREFETCH.get()
        waiting = ready.get(self._key(chat, route_text, adapter, config)) if ready else None
        return waiting.pop() if waiting else None

    def _chat_result(self, gen: Any, r: Any) -> ChatResult:
        meta = self._response_metadata(gen.model_name, r.metadata())
        message = AIMessage(content=r.text, usage_metadata=_usage(meta), response_metadata=meta)
        return ChatResult(generations=[ChatGeneration(message=message, generation_info={"finish_reason": meta["finish_reason"]})])

    @staticmethod
    def _response_metadata(backbone: str, info: dict[str, Any]) -> dict[str, Any]:
        return {"model_name": served_model_name(backbone, info["adapter"]), "model_provider": "ariadne", **info}

    def _chunks(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> Iterator[ChatGenerationChunk]:
        gen, chat, route_text, adapter, config = self._prepare(messages, stop, kwargs)
        stream = gen.stream(chat, config, route_text=route_text, adapter=adapter)
        for c in stream:
            if c.final:
                meta = self._response_metadata(gen.model_name, stream.metadata())
                yield ChatGenerationChunk(
                    message=AIMessageChunk(content=c.text, chunk_position="last", usage_metadata=_usage(meta),
                                           response_metadata=meta),
                    generation_info={"finish_reason": meta["finish_reason"]},
                )
                return
            if c.text:
                yield ChatGenerationChunk(message=AIMessageChunk(content=c.text))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(messages, stop, kwargs):
            if run_manager is not None:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        async for chunk in aiter_in_thread(lambda: self._chunks(messages, stop, kwargs)):
            if run_manager is not None:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    # ------------------------------------------------------------------ batching
    def _prefetch(self, inputs: list[Any], kwargs: dict[str, Any]) -> dict[Any, list[Any]] | None:
        """Route and generate every valid input in ONE mixed-adapter call (None when not applicable).

        Inputs that fail validation are left out: they fail on their own in the per-input call.
        """
        if len(inputs) < 2 or self.streaming or kwargs.get("stream"):
            return None
        kwargs = dict(kwargs)
        stop = kwargs.pop("stop", None)
        items = []
        for x in inputs:
            try:
                msgs = self._convert_input(x).to_messages()
                _, chat, route_text, adapter, config = self._prepare(msgs, stop, kwargs)
            except Exception:  # noqa: BLE001 - reported by that input's own call
                continue
            items.append((chat, route_text, adapter, config))
        groups: dict[Any, list[int]] = {}
        for i, (_, _, adapter, config) in enumerate(items):
            groups.setdefault((adapter, config), []).append(i)
        # Every group is submitted before any is waited on: groups that differ only in a forced adapter
        # share one coalesced generate call. A group that fails is left out: its inputs are answered by
        # their own calls, which report their own errors.
        futures = []
        for (adapter, config), idx in groups.items():
            try:
                futures.append((idx, self.generator.submit([items[i][0] for i in idx], config,
                                                           route_texts=[items[i][1] for i in idx], adapter=adapter)))
            except Exception as exc:  # noqa: BLE001 - see above
                logger.debug("batched prefetch of %d inputs failed (%s); answering them one by one", len(idx), exc)
        ready: dict[Any, list[Any]] = {}
        for idx, fut in futures:
            try:
                results = fut.result()
            except Exception as exc:  # noqa: BLE001 - see above
                logger.debug("batched prefetch of %d inputs failed (%s); answering them one by one", len(idx), exc)
                continue
            for i, r in zip(idx, results):
                ready.setdefault(self._key(*items[i]), []).append(r)
        return ready

    def batch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """Route the whole list once and generate it in one mixed-adapter batch; callbacks, tracing
        and ``return_exceptions`` still work per input (BaseChatModel.batch runs per input)."""
        ready = self._prefetch(inputs, dict(kwargs))
        token = _PREFETCH.set(ready)
        try:
            return super().batch(inputs, config, return_exceptions=return_exceptions, **kwargs)
        finally:
            _PREFETCH.reset(token)

    async def abatch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """Async :meth:`batch`: the one batched generation runs in a worker thread."""
        ready = await asyncio.to_thread(self._prefetch, inputs, dict(kwargs))
        token = _PREFETCH.set(ready)
        try:
            return await super().abatch(inputs, config, return_exceptions=return_exceptions, **kwargs)
        finally:
            _PREFETCH.reset(token)


def _usage(meta: dict[str, Any]) -> UsageMetadata:
    return UsageMetadata(input_tokens=meta["prompt_tokens"], output_tokens=meta["completion_tokens"],
                         total_tokens=meta["total_tokens"])
