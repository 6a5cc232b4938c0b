"""AriadneRouterRunnable: the routing decision as a LangChain Runnable, for chains that branch on it.

Why: routing is useful beyond picking a LoRA adapter — a chain can send a request to a different
prompt, retriever or tool chain depending on where it routes (``RunnableBranch``, or a dict of
chains keyed by adapter name via :func:`route_to_chains`). Batches are routed in one embedding pass.
"""
from __future__ import annotations

import asyncio
import os
from typing import Any, AsyncIterator, Iterator, Mapping, Sequence

from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import (
    ensure_config,
    get_async_callback_manager_for_config,
    get_callback_manager_for_config,
    get_config_list,
    patch_config,
)
from pydantic import ConfigDict, Field, PrivateAttr, field_validator

from ariadne_integrations.core.generator import routing_metadata
from ariadne_integrations.errors import InvalidInputError, UnknownAdapterError
from ariadne_integrations.routing.decision import RouteDecision

__all__ = ["AriadneRouterRunnable", "AriadneRouteDispatch", "route_to_chains"]


def _text_of(value: Any, input_key: str | None) -> str:
    """str | dict[input_key] | BaseMessage | list[BaseMessage] (last human) | PromptValue -> text."""
    if isinstance(value, Mapping):
        keys = [input_key] if input_key else ["input", "question", "query", "text"]
        for k in keys:
            if k in value:
                return _text_of(value[k], None)
        raise InvalidInputError(
            f"the input dict has no key {' / '.join(map(repr, keys))} to route on (keys: {sorted(value)}); set input_key=")
    if isinstance(value, str):
        text = value
    elif isinstance(value, PromptValue):
        msgs = value.to_messages()
        humans = [m for m in msgs if isinstance(m, HumanMessage)]
        text = str((humans or msgs)[-1].text) if msgs else value.to_string()
    elif isinstance(value, BaseMessage):
        text = str(value.text)
    elif isinstance(value, Sequence) and value and all(isinstance(m, BaseMessage) for m in value):
        humans = [m for m in value if isinstance(m, HumanMessage)]
        text = str((humans or list(value))[-1].text)
    else:
        raise InvalidInputError(f"cannot route a {type(value).__name__}; give a string, a dict, a message or a message list")
    if not text.strip():
        raise InvalidInputError("the text to route is empty; give the request text")
    return text


class AriadneRouterRunnable(RunnableSerializable[Any, RouteDecision]):
    """Returns the :class:`RouteDecision` for its input (``invoke``; ``batch`` = one ``route_batch``).

    Inputs: a string, a dict (routed on ``input_key``; default: the first of input / question /
    query / text), a message, a message list (the last human message), or a prompt value.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: str | None = None
    router: Any = Field(default=None, exclude=True)
    input_key: str | None = None

    _router: Any = PrivateAttr(default=None)

    def __init__(self, router: Any = None, **kwargs: Any) -> None:
        if router is not None and not hasattr(router, "route_batch"):
            kwargs.setdefault("index", router)  # a path given positionally
            router = None
        super().__init__(router=router, **kwargs)
        if self.index is None and self.router is None:
            raise InvalidInputError("give an AriadneRouter or index=<routing index folder>")
        if self.index is not None:
            from ariadne_integrations.core.shared import check_index

            check_index(self.index)

    @field_validator("index", mode="before")
    @classmethod
    def _index_to_str(cls, v: Any) -> Any:
        return os.fspath(v) if isinstance(v, os.PathLike) else v

    @property
    def ariadne_router(self) -> Any:
        """The router (loaded from ``index`` on first use, shared process-wide)."""
        if self.router is not None:
            return self.router
        if self._router is None:
            from ariadne_integrations.core.shared import cached_router

            self._router = cached_router(self.index)  # type: ignore[arg-type]
        return self._router

    @property
    def InputType(self) -> Any:
        return Any

    @property
    def OutputType(self) -> type[RouteDecision]:
        return RouteDecision

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> RouteDecision:
        return self._call_with_config(lambda x: self.ariadne_router.route(_text_of(x, self.input_key)), input, config,
                                      run_type="chain")

    def batch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """Route every input in one embedding pass (bad inputs fail alone with return_exceptions)."""
        if not inputs:
            return []
        texts: list[Any] = []
        for x in inputs:
            try:
                texts.append(_text_of(x, self.input_key))
            except InvalidInputError as exc:
                if not return_exceptions:
                    raise
                texts.append(exc)
        good = [i for i, t in enumerate(texts) if isinstance(t, str)]
        out: list[Any] = list(texts)
        if good:
            configs = get_config_list(config, len(inputs))

            def run(_: Any) -> list[RouteDecision]:
                return self.ariadne_router.route_batch([texts[i] for i in good])

            decisions: Any = self._call_with_config(
                run, [inputs[i] for i in good], configs[good[0]], run_type="chain")  # type: ignore[arg-type]
            for i, d in zip(good, decisions):
                out[i] = d
        return out

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> RouteDecision:
        return await asyncio.to_thread(self.invoke, input, config, **kwargs)

    async def abatch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        return await asyncio.to_thread(self.batch, inputs, config, return_exceptions=return_exceptions, **kwargs)


class AriadneRouteDispatch(RunnableSerializable[Any, Any]):
    """Routes each input, then runs the chain registered for its adapter (``default`` otherwise,
    including when the router abstains). ``batch`` routes once and calls each chain's ``batch`` on its group."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    route: AriadneRouterRunnable
    chains: dict[str, Any]
    default: Any = None
    attach_decision: str | None = None
    """If set and the input is a dict, the decision is added to it under this key before dispatch."""

    def _pick(self, decision: RouteDecision) -> Runnable:
        chain = self.chains.get(decision.adapter) if decision.adapter is not None else None
        if chain is None:
            chain = self.default
        if chain is None:
            raise UnknownAdapterError(
                f"no chain for route {decision.adapter!r} (abstained={decision.abstained}) and no default; "
                f"chains exist for {sorted(self.chains)}"
            )
        return chain

    def _arg(self, x: Any, d: RouteDecision) -> Any:
        if self.attach_decision and isinstance(x, Mapping):
            return {**x, self.attach_decision: d}
        return x

    def _group(self, decisions: list[Any], return_exceptions: bool) -> tuple[list[Any], dict[int, tuple[Runnable, list[int]]]]:
        """Results so far (errors in place) and, per chain, the indices of the inputs it serves."""
        out: list[Any] = [None] * len(decisions)
        groups: dict[int, tuple[Runnable, list[int]]] = {}
        for i, d in enumerate(decisions):
            if isinstance(d, BaseException):
                out[i] = d
                continue
            try:
                chain = self._pick(d)
            except UnknownAdapterError as exc:
                if not return_exceptions:
                    raise
                out[i] = exc
                continue
            groups.setdefault(id(chain), (chain, []))[1].append(i)
        return out, groups

    # One parent run per input, as RunnableBranch does: the routing decision is in the run's metadata
    # (``ariadne_route``) and the chosen chain runs as its child, tagged ``route:<adapter>``.
    def _start(self, input: Any, config: RunnableConfig | None, decision: RouteDecision) -> tuple[RunnableConfig, Runnable]:
        chain = self._pick(decision)
        config = ensure_config(config)
        route = {k: v for k, v in routing_metadata(decision).items() if k != "scores"}
        config["metadata"] = {**config.get("metadata", {}), "ariadne_route": route}
        return config, chain

    def _child(self, config: RunnableConfig, run_manager: Any, decision: RouteDecision) -> RunnableConfig:
        return patch_config(config, callbacks=run_manager.get_child(tag=f"route:{decision.adapter or 'default'}"))

    def _route_one(self, input: Any) -> RouteDecision:
        return self.route.ariadne_router.route(_text_of(input, self.route.input_key))

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        d = self._route_one(input)
        config, chain = self._start(input, config, d)
        rm = get_callback_manager_for_config(config).on_chain_start(
            None, input, name=config.get("run_name") or self.get_name(), run_id=config.pop("run_id", None))
        try:
            out = chain.invoke(self._arg(input, d), self._child(config, rm, d), **kwargs)
        except BaseException as exc:
            rm.on_chain_error(exc)
            raise
        rm.on_chain_end(out)
        return out

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        d = await asyncio.to_thread(self._route_one, input)
        config, chain = self._start(input, config, d)
        rm = await get_async_callback_manager_for_config(config).on_chain_start(
            None, input, name=config.get("run_name") or self.get_name(), run_id=config.pop("run_id", None))
        try:
            out = await chain.ainvoke(self._arg(input, d), self._child(config, rm, d), **kwargs)
        except BaseException as exc:
            await rm.on_chain_error(exc)
            raise
        await rm.on_chain_end(out)
        return out

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        """Streams the chosen chain's own chunks (one parent run, like ``RunnableBranch.stream``)."""
        d = self._route_one(input)
        config, chain = self._start(input, config, d)
        rm = get_callback_manager_for_config(config).on_chain_start(
            None, input, name=config.get("run_name") or self.get_name(), run_id=config.pop("run_id", None))
        final: Any = None
        try:
            for chunk in chain.stream(self._arg(input, d), self._child(config, rm, d), **kwargs):
                final = _add(final, chunk)
                yield chunk
        except BaseException as exc:
            rm.on_chain_error(exc)
            raise
        rm.on_chain_end(final)

    async def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[Any]:
        d = await asyncio.to_thread(self._route_one, input)
        config, chain = self._start(input, config, d)
        rm = await get_async_callback_manager_for_config(config).on_chain_start(
            None, input, name=config.get("run_name") or self.get_name(), run_id=config.pop("run_id", None))
        final: Any = None
        try:
            async for chunk in chain.astream(self._arg(input, d), self._child(config, rm, d), **kwargs):
                final = _add(final, chunk)
                yield chunk
        except BaseException as exc:
            await rm.on_chain_error(exc)
            raise
        await rm.on_chain_end(final)

    def batch(self, inputs: list[Any], config: Any = None, *, return_exceptions: bool = False, **kwargs: Any) -> list[Any]:
        if not inputs:
            return []
        configs = get_config_list(config, len(inputs))
        decisions = self.route.batch(inputs, configs, return_exceptions=return_exceptions)
        out, groups = self._group(decisions, return_exceptions)
        for chain, idx in groups.values():
            res = chain.batch([self._arg(inputs[i], decisions[i]) for i in idx], [configs[i] for i in idx],
                              return_exceptions=return_exceptions, **kwargs)
            for i, r in zip(idx, res):
                out[i] = r
        return out

    async def abatch(self, inputs: list[Any], config: Any = None, *, return_exceptions: bool = False, **kwargs: Any) -> list[Any]:
        if not inputs:
            return []
        configs = get_config_list(config, len(inputs))
        decisions = await self.route.abatch(inputs, configs, return_exceptions=return_exceptions)
        out, groups = self._group(decisions, return_exceptions)
        results = await asyncio.gather(*[
            chain.abatch([self._arg(inputs[i], decisions[i]) for i in idx], [configs[i] for i in idx],
                         return_exceptions=return_exceptions, **kwargs)
            for chain, idx in groups.values()
        ])
        for (_, idx), res in zip(groups.values(), results):
            for i, r in zip(idx, res):
                out[i] = r
        return out


def _add(total: Any, chunk: Any) -> Any:
    """Accumulate streamed chunks (``+`` where the chunk type supports it, else keep the last)."""
    if total is None:
        return chunk
    try:
        return total + chunk
    except TypeError:
        return chunk


def route_to_chains(
    router: Any,
    chains: Mapping[str, Runnable | Any],
    default: Runnable | Any | None = None,
    *,
    input_key: str | None = None,
    attach_decision: str | None = None,
) -> AriadneRouteDispatch:
    """A Runnable that sends each input to ``chains[adapter]`` (``default`` when abstained or unmapped).

    ``router``: an AriadneRouter, an index folder, or an :class:`AriadneRouterRunnable`.
    Chain names that are not adapters of the router are an error (a typo would silently never match).
    """
    from langchain_core.runnables.base import coerce_to_runnable

    if not isinstance(router, AriadneRouterRunnable):
        router = AriadneRouterRunnable(router, input_key=input_key)
    if not chains:
        raise InvalidInputError("chains is empty: map at least one adapter name to a chain")
    known = set(router.ariadne_router.adapters)
    unknown = sorted(set(chains) - known)
    if unknown:
        raise UnknownAdapterError(f"chains name routes the router does not have: {unknown}; its adapters: {sorted(known)}")
    return AriadneRouteDispatch(
        route=router,
        chains={k: coerce_to_runnable(v) for k, v in chains.items()},
        default=None if default is None else coerce_to_runnable(default),
        attach_decision=attach_decision,
    )
