"""Router + generation backend: route a whole batch once, then generate it in one mixed-adapter call.

Why: the LangChain and LlamaIndex wrappers must not each re-implement "route, pick the adapter,
generate, report what answered". :class:`RoutedGenerator` does it once, for any
:class:`~ariadne_integrations.runtime.generation.GenerationBackend` (the in-process ``AdapterRuntime``
or an OpenAI-compatible multi-LoRA server), and :meth:`RoutedResult.metadata` is the one place the
routing metadata of an answer is spelled.

Everything heavy is lazy: :meth:`RoutedGenerator.from_index` only reads ``index.json``; the router
(embedder) and the runtime (backbone) load on first use and are shared process-wide (:mod:`.shared`).
"""
from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Iterator, Literal, Mapping, Sequence

from ariadne_integrations.constants import BASE_ADAPTER, DEFAULT_COALESCE_WINDOW_MS, DEFAULT_MAX_BATCH_SIZE
from ariadne_integrations.core.async_bridge import aiter_in_thread
from ariadne_integrations.core.coalescing import CoalescedRequest, Coalescer, coalescer_for
from ariadne_integrations.core.prompts import route_text_of, validate_prompt
from ariadne_integrations.core.shared import cached_router, cached_runtime, check_index, index_version
from ariadne_integrations.errors import InvalidInputError, PartialBatchError, UnknownAdapterError
from ariadne_integrations.routing.decision import RouteDecision
from ariadne_integrations.runtime.generation import (
    GenerationBackend,
    GenerationConfig,
    GenerationResult,
    Prompt,
    StreamChunk,
    is_async_backend,
)

if TYPE_CHECKING:  # pragma: no cover
    from ariadne_integrations.routing.router import AriadneRouter

logger = logging.getLogger(__name__)

AdapterErrorPolicy = Literal["raise", "base"]
"""What a row whose adapter fails to load gets: its ``AdapterLoadError`` ("raise"), or the bare
backbone's answer with ``fallback=True`` and ``adapter_error`` in its metadata ("base")."""

__all__ = ["AdapterErrorPolicy", "RoutedAsyncStream", "RoutedGenerator", "RoutedResult", "RoutedStream", "forced_decision",
           "routing_metadata"]


def _missing_on_backend(name: str) -> UnknownAdapterError:
    """The error for a routed adapter the backend does not serve (sync and async checks alike)."""
    return UnknownAdapterError(
        f"the router chose adapter {name!r} but the backend has no such adapter; record its folder in the "
        f"index (`ariadne index build --adapter DIR`) or register it on the backend"
    )


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)


def routing_metadata(decision: RouteDecision, forced: bool = False) -> dict[str, Any]:
    """Flat, JSON-friendly routing metadata: which adapter answered and how sure the router was."""
    return {
        "adapter": decision.adapter,
        "score": _num(decision.score),
        "margin": _num(decision.margin),
        "abstained": bool(decision.abstained),
        "best": decision.best,
        "runner_up": decision.runner_up,
        "forced": bool(forced),
        "scores": {k: float(v) for k, v in decision.scores.items()},
        "fallback": False,
        "adapter_error": None,
    }


@dataclass(frozen=True)
class RoutedResult:
    """One prompt's routing decision and its completion."""

    decision: RouteDecision
    result: GenerationResult
    forced: bool = False
    adapter_error: str | None = None
    """Set when the chosen adapter failed to load and the bare backbone answered instead."""

    @property
    def text(self) -> str:
        return self.result.text

    @property
    def adapter(self) -> str | None:
        return self.result.adapter

    def metadata(self) -> dict[str, Any]:
        """Routing metadata plus finish reason and token counts (generation_info, response metadata,
        ``additional_kwargs``: every wrapper reports exactly these keys)."""
        r = self.result
        fallback = {"adapter": None, "fallback": True, "adapter_error": self.adapter_error} if self.adapter_error else {}
        return {
            **routing_metadata(self.decision, self.forced),
            **fallback,
            "finish_reason": r.finish_reason or "stop",
            "stop_sequence": r.stop_sequence,
            "prompt_tokens": int(r.prompt_tokens or 0),
            "completion_tokens": int(r.completion_tokens or 0),
            "total_tokens": int(r.prompt_tokens or 0) + int(r.completion_tokens or 0),
        }


@dataclass
class RoutedStream:
    """A streamed completion whose routing decision is known before the first chunk.

    Iterate it for :class:`StreamChunk` s; the last chunk has ``final=True``; after it,
    :attr:`result` holds the whole :class:`RoutedResult` (text, counts, metadata).
    """

    decision: RouteDecision
    forced: bool
    chunks: Iterator[StreamChunk]
    result: RoutedResult | None = field(default=None, init=False)

    def __iter__(self) -> Iterator[StreamChunk]:
        text: list[str] = []
        for chunk in self.chunks:
            text.append(chunk.text)
            if chunk.final:
                self.result = _stream_result(self.decision, self.forced, text, chunk)
            yield chunk

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()

    def metadata(self) -> dict[str, Any]:
        """The final metadata once the stream ended, else the routing metadata alone."""
        return self.result.metadata() if self.result is not None else routing_metadata(self.decision, self.forced)


def _stream_result(decision: RouteDecision, forced: bool, text: list[str], final: StreamChunk) -> RoutedResult:
    return RoutedResult(decision, GenerationResult(
        text="".join(text), adapter=decision.adapter, prompt_tokens=int(final.prompt_tokens or 0),
        completion_tokens=int(final.completion_tokens or 0), finish_reason=final.finish_reason or "stop",
        stop_sequence=final.extra.get("stop_sequence") if final.extra else None,
    ), forced)


@dataclass
class RoutedAsyncStream:
    """:class:`RoutedStream` for ``async for``: the decision is known before the first chunk; after the
    final chunk :attr:`result` holds the whole :class:`RoutedResult`."""

    decision: RouteDecision
    forced: bool
    chunks: AsyncIterator[StreamChunk]
    result: RoutedResult | None = field(default=None, init=False)

    async def __aiter__(self) -> AsyncIterator[StreamChunk]:
        text: list[str] = []
        async for chunk in self.chunks:
            text.append(chunk.text)
            if chunk.final:
                self.result = _stream_result(self.decision, self.forced, text, chunk)
            yield chunk

    async def aclose(self) -> None:
        close = getattr(self.chunks, "aclose", None)
        if close is not None:
            await close()

    def metadata(self) -> dict[str, Any]:
        """The final metadata once the stream ended, else the routing metadata alone."""
        return self.result.metadata() if self.result is not None else routing_metadata(self.decision, self.forced)


def forced_decision(adapter: str | None) -> RouteDecision:
    """The decision reported when the caller chose the adapter: no router ran, so no score, margin or
    abstention is reported (NaN scores become None in :func:`routing_metadata`)."""
    return RouteDecision(adapter=adapter, score=math.nan, margin=math.nan, scores={}, abstained=False,
                         best=adapter, runner_up=None)


def _no_router_decision() -> RouteDecision:
    return RouteDecision(adapter=None, score=0.0, margin=0.0, scores={}, abstained=True, best=None, runner_up=None)


class RoutedGenerator:
    """Routes prompts with an :class:`AriadneRouter` and answers them with a :class:`GenerationBackend`.

    ``router`` may be None (then every prompt goes to the forced ``adapter``, or to the bare
    backbone). Either argument may also be a zero-argument callable that builds it on first use.
    ``threshold`` / ``min_margin`` override the router's own abstention rule (None = the router's);
    an abstained prompt is answered by the bare backbone.

    Concurrent calls are coalesced (:mod:`.coalescing`): :meth:`generate` / :meth:`agenerate` calls
    that arrive within ``coalesce_window_ms`` of each other on the same backend object (from this or any
    other generator) are routed together and answered in one mixed-adapter ``generate`` of at most
    ``max_batch_size`` prompts; each caller still gets only its own results and its own errors.
    ``coalesce_window_ms=0`` turns it off (each call then goes straight to the backend). Streams are
    never coalesced.

    A backend with async methods (:class:`~ariadne_integrations.runtime.generation.AsyncGenerationBackend`,
    e.g. an OpenAI-compatible server) is awaited directly by :meth:`agenerate` / :meth:`astream`: no
    worker thread, no coalescer (the server batches concurrent requests itself); routing runs on the
    event loop (one embedding pass of the call's prompts).

    An adapter that fails to load fails only the rows routed to it (``on_adapter_error="raise"``: a
    call holding one of them raises its ``AdapterLoadError``, or ``PartialBatchError`` with the other rows'
    results when it has several prompts); ``"base"`` answers them with the bare backbone instead.

    Built :meth:`from_index`, the generator follows the index on disk: when its content checksum changes
    (a re-save added, removed or moved adapters), the next call uses the new router and adapter set.
    """

    def __init__(
        self,
        router: AriadneRouter | Callable[[], AriadneRouter] | None,
        backend: GenerationBackend | Callable[[], GenerationBackend],
        *,
        adapter: str | None = None,
        adapter_names: Sequence[str] | None = None,
        threshold: float | None = None,
        min_margin: float | None = None,
        coalesce_window_ms: float = DEFAULT_COALESCE_WINDOW_MS,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        on_adapter_error: AdapterErrorPolicy = "raise",
    ) -> None:
        if on_adapter_error not in ("raise", "base"):
            raise InvalidInputError(f"on_adapter_error must be 'raise' or 'base', got {on_adapter_error!r}")
        self.on_adapter_error = on_adapter_error
        self._index_path: Path | None = None
        self._index_digest: str | None = None
        if isinstance(coalesce_window_ms, bool) or not isinstance(coalesce_window_ms, (int, float)) \
                or not 0 <= coalesce_window_ms <= 60_000:
            raise InvalidInputError(f"coalesce_window_ms must be a number of milliseconds in [0, 60000], got {coalesce_window_ms!r}")
        if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int) or max_batch_size < 1:
            raise InvalidInputError(f"max_batch_size must be a positive int, got {max_batch_size!r}")
        self.threshold = threshold
        self.min_margin = min_margin
        self.coalesce_window_ms = float(coalesce_window_ms)
        self.max_batch_size = max_batch_size
        self._coalescer: Coalescer | None = None
        self._router_src = router
        self._backend_src = backend
        self._router: Any = None if callable(router) and not hasattr(router, "route_batch") else router
        self._backend: Any = None if callable(backend) and not hasattr(backend, "generate") else backend
        loaded_router: Any = self._router
        if adapter_names is None and loaded_router is not None:
            adapter_names = list(loaded_router.adapters)
        self._adapter_names = list(adapter_names) if adapter_names is not None else None
        self._lock = threading.Lock()
        self.adapter = self.check_adapter(adapter)
        if router is not None:
            # this process routes and then generates: idle ONNX threads must not hold the cores generation needs
            from ariadne_integrations.routing.onnx_encoder import set_onnx_spinning

            set_onnx_spinning(False)

    @classmethod
    def from_index(
        cls,
        index_dir: str | os.PathLike[str],
        *,
        backbone: str | None = None,
        max_loaded_adapters: int = 8,
        backend: GenerationBackend | None = None,
        adapter: str | None = None,
        device: str | None = "auto",
        dtype: str | None = "auto",
        threshold: float | None = None,
        min_margin: float | None = None,
        coalesce_window_ms: float = DEFAULT_COALESCE_WINDOW_MS,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        on_adapter_error: AdapterErrorPolicy = "raise",
    ) -> RoutedGenerator:
        """A generator over a saved index. Only index.json is read now; models load on first use.

        ``backend=None`` registers the index's adapter folders on an ``AdapterRuntime`` over
        ``backbone`` (None = the embedded default) on ``device`` in ``dtype``, shared process-wide (so is its
        coalescer); the index's embedder runs on ``device`` too.
        """
        path = Path(index_dir).expanduser().resolve()
        digest = index_version(path)
        meta = check_index(index_dir)
        names = [a["name"] for a in meta["adapters"]]
        if not isinstance(max_loaded_adapters, int) or max_loaded_adapters < 1:
            raise InvalidInputError(f"max_loaded_adapters must be a positive int, got {max_loaded_adapters!r}")
        be: Any = backend if backend is not None else (
            lambda: cached_runtime(path, backbone, max_loaded_adapters, device, dtype))
        gen = cls(lambda: cached_router(path, device), be, adapter=adapter, adapter_names=names, threshold=threshold,
                  min_margin=min_margin, coalesce_window_ms=coalesce_window_ms, max_batch_size=max_batch_size,
                  on_adapter_error=on_adapter_error)
        gen._index_path, gen._index_digest = path, digest
        return gen

    def refresh(self) -> bool:
        """Pick up a changed index (built :meth:`from_index`): when its content checksum differs from the
        one this generator serves, the next use loads the new router and syncs the shared runtime's
        adapters (new ones registered, removed ones forgotten). Cheap when nothing changed (one stat).
        Every call runs it first; returns whether the index changed."""
        path = self._index_path
        if path is None:
            return False
        digest = index_version(path)
        if digest == self._index_digest:
            return False
        meta = check_index(path)
        with self._lock:
            if digest == self._index_digest:
                return False
            logger.info("routing index %s changed on disk; reloading its router and adapters", path)
            self._adapter_names = [a["name"] for a in meta["adapters"]]
            self._router = None
            if callable(self._backend_src) and not hasattr(self._backend_src, "generate"):
                self._backend = None  # cached_runtime hands back the same runtime, synced to the new index
            self._index_digest = digest
        return True

    # ------------------------------------------------------------------ lazy parts
    def _once(self, attr: str, make: Any) -> Any:
        """``self.<attr>``, created by ``make()`` on first use (once, even from several threads)."""
        if getattr(self, attr) is None and make is not None:
            with self._lock:
                if getattr(self, attr) is None:
                    setattr(self, attr, make())
        return getattr(self, attr)

    @property
    def router(self) -> AriadneRouter | None:
        return self._once("_router", self._router_src)

    @property
    def backend(self) -> GenerationBackend:
        return self._once("_backend", self._backend_src)

    @property
    def coalescer(self) -> Coalescer | None:
        """The coalescer this generator's calls go through (shared by every generator over the same
        backend with the same settings); None when ``coalesce_window_ms`` is 0. Loads the backend."""
        if self.coalesce_window_ms <= 0:
            return None
        if self._coalescer is None:
            self._coalescer = coalescer_for(self.backend, self.coalesce_window_ms, self.max_batch_size)
        return self._coalescer

    def load(self) -> None:
        """Create the router and the backend now (they are otherwise created on first use)."""
        _ = self.router, self.backend

    @property
    def loaded(self) -> bool:
        """Whether the router and backend have been created (False right after from_index)."""
        return self._backend is not None and (self._router is not None or self._router_src is None)

    @property
    def adapters(self) -> list[str]:
        """The adapter names the router can choose (known without loading models when built from an index)."""
        self.refresh()
        if self._adapter_names is not None:
            return list(self._adapter_names)
        r = self.router
        return list(r.adapters) if r is not None else []

    @property
    def model_name(self) -> str:
        return self.backend.model_name

    @property
    def tokenizer(self) -> Any:
        """The backbone's tokenizer when the backend runs the model locally (None for a remote server)."""
        backend: Any = self.backend
        tok = getattr(backend, "tokenizer", None)
        if tok is None and getattr(backend, "backbone", None) is not None:
            tok = backend.backbone.tokenizer
        return tok

    def count_tokens(self, prompt: Prompt, *, chat_template: bool = True) -> int | None:
        """Tokens the backbone sees for ``prompt`` (chat template applied to messages, and to text
        when ``chat_template``); None when no local tokenizer is at hand."""
        tok = self.tokenizer
        if tok is None:
            return None
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        if (chat_template or not isinstance(prompt, str)) and getattr(tok, "chat_template", None):
            ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
            if isinstance(ids, Mapping):  # BatchEncoding
                ids = ids["input_ids"]
            return len(ids)
        text = prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in messages)
        return len(tok(text, add_special_tokens=False)["input_ids"])

    def check_adapter(self, adapter: str | None) -> str | None:
        """Validate a forced adapter name (None = route; ``"__base__"`` = bare backbone)."""
        if adapter is None or adapter == BASE_ADAPTER:
            return adapter
        if not isinstance(adapter, str) or not adapter:
            raise InvalidInputError(f"adapter must be an adapter name (string), got {adapter!r}")
        self.refresh()
        known = self._adapter_names
        if known is not None:
            if adapter not in known:
                raise UnknownAdapterError(
                    f"adapter {adapter!r} is not in the index; known adapters: {known} "
                    f"(or {BASE_ADAPTER!r} for the bare backbone, or None to route)"
                )
        elif self._backend is not None and not self._backend.has_adapter(adapter):
            raise UnknownAdapterError(f"the backend has no adapter {adapter!r}")
        return adapter

    def is_forced(self, adapter: str | None = None) -> bool:
        """Whether a call with this per-call ``adapter`` skips routing."""
        return adapter is not None or self.adapter is not None

    # ------------------------------------------------------------------ routing
    def route(self, texts: Sequence[str]) -> list[RouteDecision]:
        """Route many texts in one embedding pass."""
        router = self.router
        if router is None:
            return [_no_router_decision() for _ in texts]
        rule: dict[str, Any] = {k: v for k, v in (("threshold", self.threshold), ("min_margin", self.min_margin))
                                if v is not None}
        return router.route_batch(list(texts), **rule)

    def _decide(self, prompts: Sequence[Prompt], route_texts: Sequence[str] | None, adapter: str | None
                ) -> tuple[list[RouteDecision], bool]:
        forced = adapter if adapter is not None else self.adapter
        if forced is not None:
            self.check_adapter(forced)
            target = None if forced == BASE_ADAPTER else forced
            return [forced_decision(target) for _ in prompts], True
        if route_texts is None:
            route_texts = [route_text_of(p) for p in prompts]
        elif len(route_texts) != len(prompts):
            raise InvalidInputError(f"route_texts has {len(route_texts)} items for {len(prompts)} prompts")
        return self.route(route_texts), False

    def _check_backend_has(self, decisions: Sequence[RouteDecision]) -> None:
        backend = self.backend
        for name in {d.adapter for d in decisions if d.adapter is not None}:
            if not backend.has_adapter(name):
                raise _missing_on_backend(name)

    # ------------------------------------------------------------------ generation
    def generate(
        self,
        prompts: Sequence[Prompt],
        config: GenerationConfig | None = None,
        *,
        route_texts: Sequence[str] | None = None,
        adapter: str | None = None,
    ) -> list[RoutedResult]:
        """Route every prompt (one router pass) and answer all of them in ONE backend.generate call.

        Abstained prompts go to the bare backbone. ``adapter`` forces one adapter for the whole
        call (``"__base__"`` = no adapter): routing is skipped but a decision is still reported.
        Concurrent calls are coalesced into one batch (see the class docstring); the answers are
        the same as this call's alone.
        """
        return self.submit(prompts, config, route_texts=route_texts, adapter=adapter).result()

    async def agenerate(
        self,
        prompts: Sequence[Prompt],
        config: GenerationConfig | None = None,
        *,
        route_texts: Sequence[str] | None = None,
        adapter: str | None = None,
    ) -> list[RoutedResult]:
        """:meth:`generate` for asyncio code: the event loop never blocks on the model, and a coalesced
        call waits without holding a worker thread (many concurrent ``agenerate`` share one batch)."""
        if not self.loaded:
            await asyncio.to_thread(self.load)
        if is_async_backend(self.backend):
            return await self._agenerate_direct(self._request(prompts, config, route_texts, adapter))
        if self.coalescer is None:
            return await asyncio.to_thread(self.generate, prompts, config, route_texts=route_texts, adapter=adapter)
        return await asyncio.wrap_future(self.submit(prompts, config, route_texts=route_texts, adapter=adapter))

    @property
    def has_async_backend(self) -> bool:
        """Whether the backend is awaited directly (known without loading a lazily built local runtime,
        which has no async methods)."""
        return self._backend is not None and is_async_backend(self._backend)

    async def _agenerate_direct(self, request: CoalescedRequest) -> list[RoutedResult]:
        """Route on the loop, then await the backend's own ``agenerate`` (no thread, no coalescer)."""
        decisions = request.decisions
        if decisions is None:
            decisions = self.route(request.route_texts or [])
        await self._acheck_backend_has(decisions)
        backend: Any = self.backend
        results = await backend.agenerate(request.prompts, [d.adapter for d in decisions], request.config)
        if len(results) != len(request.prompts):
            raise RuntimeError(f"backend returned {len(results)} results for {len(request.prompts)} prompts")
        result: list[RoutedResult] = request.finish(decisions, results)
        return result

    async def _acheck_backend_has(self, decisions: Sequence[RouteDecision]) -> None:
        backend: Any = self.backend
        for name in {d.adapter for d in decisions if d.adapter is not None}:
            if not await backend.ahas_adapter(name):
                raise _missing_on_backend(name)

    def submit(
        self,
        prompts: Sequence[Prompt],
        config: GenerationConfig | None = None,
        *,
        route_texts: Sequence[str] | None = None,
        adapter: str | None = None,
    ) -> Future[list[RoutedResult]]:
        """:meth:`generate` as a :class:`~concurrent.futures.Future` (several submits made together share
        one batch). Invalid input raises here, at once; a failure of routing or generation is set on
        the future. Without coalescing the call runs now and the future is already done."""
        request = self._request(prompts, config, route_texts, adapter)
        coalescer = self.coalescer
        if coalescer is not None:
            return coalescer.submit(request)
        return self._run_now(request)

    def _request(self, prompts: Sequence[Prompt], config: GenerationConfig | None, route_texts: Sequence[str] | None,
                 adapter: str | None) -> CoalescedRequest:
        """One call as a request: prompts validated, a forced adapter's decisions made, else the texts to route."""
        if isinstance(prompts, str) or not isinstance(prompts, Sequence):
            raise InvalidInputError(f"prompts must be a list of prompts, got {type(prompts).__name__}")
        if not prompts:
            raise InvalidInputError("prompts is empty: give at least one prompt")
        self.refresh()
        items = [validate_prompt(p, i) for i, p in enumerate(prompts)]
        config = config or GenerationConfig()
        forced = adapter if adapter is not None else self.adapter
        decisions: list[RouteDecision] | None = None
        texts: list[str] | None = None
        if forced is not None:
            self.check_adapter(forced)
            decisions = [forced_decision(None if forced == BASE_ADAPTER else forced) for _ in items]
        elif route_texts is None:
            texts = [route_text_of(p) for p in items]
        elif len(route_texts) != len(items):
            raise InvalidInputError(f"route_texts has {len(route_texts)} items for {len(items)} prompts")
        else:
            texts = list(route_texts)
        is_forced = forced is not None

        def finish(ds: list[RouteDecision], results: list[GenerationResult]) -> list[RoutedResult]:
            return [RoutedResult(d, r, is_forced) for d, r in zip(ds, results)]

        def finish_partial(ds: list[RouteDecision], results: list[GenerationResult | None],
                           errors: dict[int, Exception]) -> list[RoutedResult]:
            return self._finish_partial(items, config, ds, results, errors, is_forced)

        return CoalescedRequest(
            backend=self.backend, prompts=items, config=config, decisions=decisions, route_texts=texts,
            route=self.route, route_key=None if texts is None else (id(self.router), self.threshold, self.min_margin),
            check=self._check_backend_has, finish=finish, finish_partial=finish_partial,
        )

    def _run_now(self, request: CoalescedRequest) -> Future[list[RoutedResult]]:
        """The uncoalesced path: route, check, generate, all in the calling thread."""
        fut: Future[list[RoutedResult]] = Future()
        try:
            decisions = request.decisions
            if decisions is None:
                decisions = self.route(request.route_texts or [])
            self._check_backend_has(decisions)
            try:
                results = self.backend.generate(request.prompts, [d.adapter for d in decisions], request.config)
            except PartialBatchError as partial:
                if len(partial.results) != len(request.prompts) or request.finish_partial is None:
                    raise
                fut.set_result(request.finish_partial(decisions, list(partial.results), dict(partial.row_errors)))
                return fut
            if len(results) != len(request.prompts):
                raise RuntimeError(f"backend returned {len(results)} results for {len(request.prompts)} prompts")
            fut.set_result(request.finish(decisions, results))
        except Exception as exc:  # noqa: BLE001 - re-raised by future.result() in the caller
            fut.set_exception(exc)
        return fut

    def _finish_partial(self, prompts: Sequence[Prompt], config: GenerationConfig, decisions: list[RouteDecision],
                        results: list[GenerationResult | None], errors: dict[int, Exception], forced: bool
                        ) -> list[RoutedResult]:
        """One call's results when some of its rows' adapters failed to load (see the class docstring)."""
        if self.on_adapter_error == "base":
            idx = sorted(errors)
            logger.warning("%d row(s) answered by the bare backbone: %s", len(idx), errors[idx[0]])
            base = self.backend.generate([prompts[i] for i in idx], [None] * len(idx), config)
            filled = list(results)
            for i, r in zip(idx, base):
                filled[i] = r
            return [RoutedResult(d, r, forced, adapter_error=str(errors[i]) if i in errors else None)
                    for i, (d, r) in enumerate(zip(decisions, filled)) if r is not None]
        if len(prompts) == 1:
            raise errors[0]
        first = errors[min(errors)]
        routed: list[Any] = [None if r is None else RoutedResult(d, r, forced) for d, r in zip(decisions, results)]
        raise PartialBatchError(f"{len(errors)} of {len(prompts)} prompts could not be answered: {first}",
                                results=routed, row_errors=dict(errors))

    def stream(
        self,
        prompt: Prompt,
        config: GenerationConfig | None = None,
        *,
        route_text: str | None = None,
        adapter: str | None = None,
    ) -> RoutedStream:
        """Route one prompt, then stream its completion; the decision is known before the first chunk.

        Streams are not coalesced: each runs its own backend call (serialised with the batches on the
        model's lock), so its consumer receives only its own tokens as they are produced."""
        item = validate_prompt(prompt)
        config = config or GenerationConfig()
        self.refresh()
        decisions, forced = self._decide([item], None if route_text is None else [route_text], adapter)
        self._check_backend_has(decisions)
        return RoutedStream(decisions[0], forced, iter(self.backend.stream(item, decisions[0].adapter, config)))

    async def astream(
        self,
        prompt: Prompt,
        config: GenerationConfig | None = None,
        *,
        route_text: str | None = None,
        adapter: str | None = None,
    ) -> RoutedAsyncStream:
        """:meth:`stream` for asyncio code. An async backend streams on the event loop (no thread);
        otherwise the sync stream runs in a worker thread (stopped when the consumer stops)."""
        if not self.loaded:
            await asyncio.to_thread(self.load)
        backend: Any = self.backend
        if not is_async_backend(backend):
            routed = await asyncio.to_thread(self.stream, prompt, config, route_text=route_text, adapter=adapter)
            return RoutedAsyncStream(routed.decision, routed.forced, aiter_in_thread(lambda: iter(routed.chunks)))
        item = validate_prompt(prompt)
        config = config or GenerationConfig()
        decisions, forced = self._decide([item], None if route_text is None else [route_text], adapter)
        await self._acheck_backend_has(decisions)
        return RoutedAsyncStream(decisions[0], forced, backend.astream(item, decisions[0].adapter, config))
