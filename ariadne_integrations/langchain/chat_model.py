"""ChatAriadne: a LangChain chat model over the routed backbone (chat template applied by the runtime).

Why a separate class from AriadneLLM: chat messages keep their roles (system / user / assistant)
and the routing input is chosen among them (by default the last human message, since that is the
request; earlier turns and system prompts would blur the routing).

Structured output and tool calls use grammar-constrained decoding (extra ``structured``): a 135M
backbone cannot be trusted to write valid JSON by itself, but every answer decoded under the schema's
grammar parses. ``with_structured_output`` and ``bind_tools`` (forced tool choice) bind a JSON schema
to the call; routing and the one mixed-adapter batch are unchanged.
"""
from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import uuid
from operator import itemgetter
from typing import Any, AsyncIterator, Callable, Iterator, Literal, Mapping, Sequence

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ChatMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call, tool_call_chunk
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.openai_tools import JsonOutputKeyToolsParser, PydanticToolsParser
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass
from pydantic import AliasChoices, ConfigDict, Field, field_validator

from ariadne_integrations.core.async_bridge import aiter_in_thread
from ariadne_integrations.core.prompts import chat_message, check_route_text, route_text_of, validate_prompt
from ariadne_integrations.core.structured import ToolPlan, normalize_tool_choice, parse_structured, tool_plan
from ariadne_integrations.errors import InvalidInputError, PartialBatchError
from ariadne_integrations.langchain._base import AriadneLangChainBase, served_model_name

__all__ = ["ChatAriadne", "to_chat_messages", "routing_text"]

logger = logging.getLogger(__name__)

# Results computed ahead by ChatAriadne.batch in ONE mixed-adapter call, consumed by the per-input
# _generate calls that BaseChatModel.batch then makes (so callbacks and traces stay per input).
_PREFETCH: contextvars.ContextVar[dict[Any, list[Any]] | None] = contextvars.ContextVar("ariadne_chat_prefetch", default=None)

RouteOn = Literal["last_human", "all_human", "all"]
_ROUTE_ON = {"last_human": "last_user", "all_human": "all_user", "all": "all"}


def to_chat_messages(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    """LangChain messages -> ``[{"role", "content"}]`` for the backbone's chat template (core conversion).

    An AI message's tool calls are written as the JSON the model produces for a forced call
    (``{"name": ..., "arguments": {...}}``), so a conversation with tool results reads consistently.
    """
    out: list[dict[str, str]] = []
    for i, m in enumerate(messages):
        if not isinstance(m, BaseMessage):
            raise InvalidInputError(f"messages[{i}] is a {type(m).__name__}, not a LangChain message")
        role = m.role if isinstance(m, ChatMessage) else m.type
        text = str(m.text)
        if isinstance(m, AIMessage) and m.tool_calls:
            calls = "\n".join(json.dumps({"name": c["name"], "arguments": c["args"]}, ensure_ascii=False) for c in m.tool_calls)
            text = f"{text}\n{calls}" if text.strip() else calls
        out.append(chat_message(role, text, getattr(m, "name", None)))
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
        """(generator, chat, route text, adapter, config, forced tool call or None) of one call.

        ``tools`` / ``tool_choice`` (bound by :meth:`bind_tools`) become the call's JSON schema.
        """
        gen = self.generator
        if not messages:
            raise InvalidInputError("messages is empty: give at least one message")
        chat = validate_prompt(to_chat_messages(messages))
        kwargs = dict(kwargs)
        plan = tool_plan(kwargs.pop("tools", None), kwargs.pop("tool_choice", None))
        kwargs.pop("strict", None)  # constrained decoding is always strict
        if plan is not None:
            kwargs["json_schema"] = plan.schema
        adapter, config = self._call_settings(stop, kwargs)
        return gen, chat, routing_text(messages, self.route_on), adapter, config, plan

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
        gen, chat, route_text, adapter, config, plan = self._prepare(messages, stop, kwargs)
        r = self._prefetched(chat, route_text, adapter, config)
        if r is None:
            (r,) = gen.generate([chat], config, route_texts=[route_text], adapter=adapter)
        return self._chat_result(gen, r, config, plan)

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
            gen, chat, route_text, adapter, config, plan = await asyncio.to_thread(self._prepare, messages, stop, kwargs)
        else:
            gen, chat, route_text, adapter, config, plan = self._prepare(messages, stop, kwargs)
        r = self._prefetched(chat, route_text, adapter, config)
        if r is None:
            (r,) = await gen.agenerate([chat], config, route_texts=[route_text], adapter=adapter)
        return self._chat_result(gen, r, config, plan)

    def _prefetched(self, chat: list[dict[str, str]], route_text: str, adapter: str | None, config: Any) -> Any:
        """This input's result computed ahead by :meth:`batch` (None outside a batch)."""
        ready = _PREFETCH.get()
        waiting = ready.get(self._key(chat, route_text, adapter, config)) if ready else None
        return waiting.pop() if waiting else None

    def _chat_result(self, gen: Any, r: Any, config: Any, plan: ToolPlan | None) -> ChatResult:
        meta = self._response_metadata(gen.model_name, r.metadata())
        message = self._answer_message(r.text, meta, config, plan)
        finish = message.response_metadata["finish_reason"]
        return ChatResult(generations=[ChatGeneration(message=message, generation_info={"finish_reason": finish})])

    @staticmethod
    def _answer_message(text: str, meta: dict[str, Any], config: Any, plan: ToolPlan | None) -> AIMessage:
        """The AIMessage of one answer. A structured answer is checked (StructuredOutputError when cut
        by the token limit); a forced tool call becomes ``tool_calls`` (content empty)."""
        if config.json_schema is None:
            return AIMessage(content=text, usage_metadata=_usage(meta), response_metadata=meta)
        value = parse_structured(text, meta["finish_reason"], config)
        if plan is None:
            return AIMessage(content=text, usage_metadata=_usage(meta), response_metadata=meta)
        name, args = plan.read(value)
        call = tool_call(name=name, args=args, id=_call_id())
        return AIMessage(content="", tool_calls=[call], usage_metadata=_usage(meta),
                         response_metadata={**meta, "finish_reason": "tool_calls"})

    @staticmethod
    def _response_metadata(backbone: str, info: dict[str, Any]) -> dict[str, Any]:
        return {"model_name": served_model_name(backbone, info["adapter"]), "model_provider": "ariadne", **info}

    def _tool_chunk(self, gen: Any, r: Any, config: Any, plan: ToolPlan) -> ChatGenerationChunk:
        """A forced tool call streams as one chunk: its arguments are known when the JSON is complete."""
        meta = self._response_metadata(gen.model_name, r.metadata())
        msg = self._answer_message(r.text, meta, config, plan)
        chunks = [tool_call_chunk(name=c["name"], args=json.dumps(c["args"], ensure_ascii=False), id=c["id"], index=i)
                  for i, c in enumerate(msg.tool_calls)]
        return ChatGenerationChunk(
            message=AIMessageChunk(content="", tool_call_chunks=chunks, chunk_position="last",
                                   usage_metadata=msg.usage_metadata, response_metadata=msg.response_metadata),
            generation_info={"finish_reason": "tool_calls"},
        )

    def _chunk(self, c: Any, text: list[str], gen: Any, config: Any, stream: Any) -> ChatGenerationChunk | None:
        """One backend chunk as a ChatGenerationChunk (None for an empty one); the final one carries the metadata."""
        text.append(c.text)
        if c.final:
            meta = self._response_metadata(gen.model_name, stream.metadata())
            if config.json_schema is not None:
                parse_structured("".join(text), meta["finish_reason"], config)  # raises when cut by the token limit
            return ChatGenerationChunk(
                message=AIMessageChunk(content=c.text, chunk_position="last", usage_metadata=_usage(meta),
                                       response_metadata=meta),
                generation_info={"finish_reason": meta["finish_reason"]},
            )
        return ChatGenerationChunk(message=AIMessageChunk(content=c.text)) if c.text else None

    def _chunks(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> Iterator[ChatGenerationChunk]:
        gen, chat, route_text, adapter, config, plan = self._prepare(messages, stop, kwargs)
        if plan is not None:
            (r,) = gen.generate([chat], config, route_texts=[route_text], adapter=adapter)
            yield self._tool_chunk(gen, r, config, plan)
            return
        stream = gen.stream(chat, config, route_text=route_text, adapter=adapter)
        text: list[str] = []
        for c in stream:
            out = self._chunk(c, text, gen, config, stream)
            if out is not None:
                yield out
            if c.final:
                return

    async def _achunks(self, messages: list[BaseMessage], stop: list[str] | None,
                       kwargs: dict[str, Any]) -> AsyncIterator[ChatGenerationChunk]:
        """:meth:`_chunks` on the event loop, for an async backend."""
        if callable(self.route_on):  # a user's routing function might block: not on the event loop
            gen, chat, route_text, adapter, config, plan = await asyncio.to_thread(self._prepare, messages, stop, kwargs)
        else:
            gen, chat, route_text, adapter, config, plan = self._prepare(messages, stop, kwargs)
        if plan is not None:
            (r,) = await gen.agenerate([chat], config, route_texts=[route_text], adapter=adapter)
            yield self._tool_chunk(gen, r, config, plan)
            return
        stream = await gen.astream(chat, config, route_text=route_text, adapter=adapter)
        text: list[str] = []
        try:
            async for c in stream:
                out = self._chunk(c, text, gen, config, stream)
                if out is not None:
                    yield out
                if c.final:
                    return
        finally:
            await stream.aclose()

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
        """Streams on the event loop when the backend is async (an OpenAI-compatible server), else from
        a worker thread."""
        if self.generator.has_async_backend:
            chunks: AsyncIterator[ChatGenerationChunk] = self._achunks(messages, stop, kwargs)
        else:
            chunks = aiter_in_thread(lambda: self._chunks(messages, stop, kwargs))
        async for chunk in chunks:
            if run_manager is not None:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    # ------------------------------------------------------------------ structured output and tools
    def bind_tools(
        self,
        tools: Sequence[Mapping[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: str | Mapping[str, Any] | bool | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools for FORCED tool calls, decoded under the tools' argument schemas (so they parse).

        ``tool_choice``: a tool name (or ``{"type": "function", "function": {"name": ...}}``) forces that
        tool; ``"any"`` / ``"required"`` / ``True`` force a call to one of the tools (with several, the
        answer is constrained to an ``anyOf`` of ``{"name": <tool>, "arguments": {...}}``); ``"none"`` /
        ``False`` bind nothing. Free choice (``None`` / ``"auto"``: the model decides whether to call a
        tool) raises NotImplementedError: a 135M backbone calls tools only under constrained decoding.
        The answer is an ``AIMessage`` with one entry in ``tool_calls`` and empty content. The model sees the
        tools only through the constrained JSON (names and argument keys), so say in the prompt what to do.
        ``strict`` is accepted for compatibility (decoding is always strict); other ``kwargs`` are bound
        to the call (e.g. ``max_tokens=``). Needs the ``structured`` extra (xgrammar) at call time.
        """
        formatted = [convert_to_openai_tool(t, strict=strict) for t in tools]
        if not formatted:
            raise InvalidInputError("bind_tools got no tools")
        names = [t["function"]["name"] for t in formatted]
        choice = normalize_tool_choice(tool_choice, names)
        if choice == "none":
            return self.bind(**kwargs)
        return self.bind(tools=formatted, tool_choice=choice, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: Literal["json_schema", "function_calling", "json_mode"] = "json_schema",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """A Runnable whose answers are ``schema`` instances (pydantic model), or dicts (TypedDict, JSON schema).

        Every answer is decoded under the schema's grammar (grammar-constrained decoding in the same
        routed, mixed-adapter batch), so it always parses; an answer cut by the token limit raises
        :class:`~ariadne_integrations.errors.StructuredOutputError` (raise ``max_tokens``).

        ``method``: ``"json_schema"`` (default) constrains the answer to the schema; ``"function_calling"``
        goes through :meth:`bind_tools` with the schema as the forced tool; ``"json_mode"`` constrains to
        the schema too when one is given, else to any JSON object. ``include_raw=True`` returns
        ``{"raw": AIMessage, "parsed": ..., "parsing_error": ...}`` as langchain-core does. ``strict`` is
        accepted for compatibility (decoding is always strict). Other ``kwargs`` are bound to the call,
        e.g. ``max_tokens=128``: a JSON answer needs more tokens than a short chat reply.
        """
        if method not in ("json_schema", "function_calling", "json_mode"):
            raise InvalidInputError(f"method must be 'json_schema', 'function_calling' or 'json_mode', got {method!r}")
        if schema is None and method != "json_mode":
            raise InvalidInputError(f"with_structured_output(method={method!r}) needs a schema (pydantic model, TypedDict or JSON schema)")
        pydantic_cls = schema if isinstance(schema, type) and is_basemodel_subclass(schema) else None
        ls_format = {"kwargs": {"method": method, "strict": strict},
                     "schema": _json_schema_of(schema) if schema is not None else None}
        parser: Runnable[Any, Any]
        if method == "function_calling":
            assert schema is not None
            name = convert_to_openai_tool(schema)["function"]["name"]
            llm = self.bind_tools([schema], tool_choice=name, ls_structured_output_format=ls_format, **kwargs)
            parser = (PydanticToolsParser(tools=[pydantic_cls], first_tool_only=True) if pydantic_cls is not None
                      else JsonOutputKeyToolsParser(key_name=name, first_tool_only=True))
        else:
            json_schema = _json_schema_of(schema) if schema is not None else {"type": "object"}
            llm = self.bind(json_schema=json_schema, ls_structured_output_format=ls_format, **kwargs)
            parser = PydanticOutputParser(pydantic_object=pydantic_cls) if pydantic_cls is not None else JsonOutputParser()
        if not include_raw:
            return llm | parser
        parser_assign = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
        parser_none = RunnablePassthrough.assign(parsed=lambda _: None)
        with_fallback = parser_assign.with_fallbacks([parser_none], exception_key="parsing_error")
        # langchain-core writes RunnableMap(raw=llm); a map batches by invoking per input, so the model
        # goes first in the sequence instead: .batch() stays one routed, mixed-adapter generate.
        return llm | RunnableLambda(_as_raw, name="as_raw") | with_fallback

    # ------------------------------------------------------------------ batching
    def _prefetch_groups(self, inputs: list[Any], kwargs: dict[str, Any]) -> tuple[list[Any], dict[Any, list[int]]] | None:
        """(prepared inputs, their indices grouped by adapter and config) of a batch; None when not applicable.

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
                _, chat, route_text, adapter, config, _ = self._prepare(msgs, stop, kwargs)
            except Exception:  # noqa: BLE001 - reported by that input's own call
                continue
            items.append((chat, route_text, adapter, config))
        groups: dict[Any, list[int]] = {}
        for i, (_, _, adapter, config) in enumerate(items):
            groups.setdefault((adapter, config), []).append(i)
        return items, groups

    def _prefetch(self, inputs: list[Any], kwargs: dict[str, Any]) -> dict[Any, list[Any]] | None:
        """Route and generate every valid input in ONE mixed-adapter call (None when not applicable)."""
        planned = self._prefetch_groups(inputs, kwargs)
        if planned is None:
            return None
        items, groups = planned
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
            except PartialBatchError as exc:  # an adapter failed to load: its inputs fail in their own calls
                for i, r in zip(idx, exc.results):
                    if r is not None:
                        ready.setdefault(self._key(*items[i]), []).append(r)
                continue
            except Exception as exc:  # noqa: BLE001 - see above
                logger.debug("batched prefetch of %d inputs failed (%s); answering them one by one", len(idx), exc)
                continue
            for i, r in zip(idx, results):
                ready.setdefault(self._key(*items[i]), []).append(r)
        return ready

    async def _aprefetch(self, inputs: list[Any], kwargs: dict[str, Any]) -> dict[Any, list[Any]] | None:
        """:meth:`_prefetch` on the event loop for an async backend: the groups are awaited together."""
        planned = self._prefetch_groups(inputs, kwargs)
        if planned is None:
            return None
        items, groups = planned
        gen = self.generator
        keys = list(groups)
        outcomes = await asyncio.gather(*(
            gen.agenerate([items[i][0] for i in groups[k]], k[1], route_texts=[items[i][1] for i in groups[k]], adapter=k[0])
            for k in keys), return_exceptions=True)
        ready: dict[Any, list[Any]] = {}
        for k, results in zip(keys, outcomes):
            if isinstance(results, BaseException):  # answered by the inputs' own calls, with their own errors
                logger.debug("batched prefetch of %d inputs failed (%s); answering them one by one", len(groups[k]), results)
                continue
            for i, r in zip(groups[k], results):
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
        """Async :meth:`batch`: the one batched generation is awaited on the loop for an async backend (an
        OpenAI-compatible server), else it runs in a worker thread."""
        if self.generator.has_async_backend and not callable(self.route_on):
            ready = await self._aprefetch(inputs, dict(kwargs))
        else:
            ready = await asyncio.to_thread(self._prefetch, inputs, dict(kwargs))
        token = _PREFETCH.set(ready)
        try:
            return await super().abatch(inputs, config, return_exceptions=return_exceptions, **kwargs)
        finally:
            _PREFETCH.reset(token)


def _json_schema_of(schema: dict[str, Any] | type) -> dict[str, Any]:
    """The JSON schema of a pydantic model, TypedDict or JSON schema (langchain-core's conversion; a
    JSON schema without the ``title`` that conversion requires is used as it is)."""
    try:
        return convert_to_json_schema(schema)
    except ValueError:
        if isinstance(schema, dict):
            return dict(schema)
        raise


def _as_raw(message: Any) -> dict[str, Any]:
    return {"raw": message}


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def _usage(meta: dict[str, Any]) -> UsageMetadata:
    return UsageMetadata(input_tokens=meta["prompt_tokens"], output_tokens=meta["completion_tokens"],
                         total_tokens=meta["total_tokens"])
