"""Router + generation backend: route a whole batch once, then generate it in one mixed-adapter call.

Why this module exists: the LangChain and LlamaIndex wrappers must not each re-implement "route,
then pick the adapter, then generate". :class:`RoutedGenerator` does it once, for any
:class:`~ariadne_integrations.runtime.generation.GenerationBackend` (the in-process
``AdapterRuntime`` or an OpenAI-compatible multi-LoRA server).

Everything heavy is lazy and shared: :meth:`RoutedGenerator.from_index` only checks the index
folder; the router (embedder) and the runtime (backbone) load on first use and are cached
process-wide per index path and backbone, so constructing many wrappers costs nothing.
"""
from __future__ import annotations

import logging
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from ariadne_integrations.errors import InvalidInputError, UnknownAdapterError
from ariadne_integrations.routing.decision import RouteDecision
from ariadne_integrations.runtime.generation import (
    GenerationBackend,
    GenerationConfig,
    GenerationResult,
    Prompt,
    StreamChunk,
)

if TYPE_CHECKING:  # pragma: no cover
    from ariadne_integrations.routing.router import AriadneRouter

logger = logging.getLogger(__name__)

__all__ = [
    "BASE",
    "RoutedGenerator",
    "RoutedResult",
    "forced_decision",
    "validate_prompt",
    "route_text_of",
    "clear_caches",
    "decision_fields",
    "check_index",
]

BASE = "__base__"
"""Adapter name that forces the bare backbone (no adapter, no routing); same spelling as peft's."""


@dataclass(frozen=True)
class RoutedResult:
    """One prompt's routing decision and its completion."""

    decision: RouteDecision
    result: GenerationResult
    forced: bool = False

    @property
    def text(self) -> str:
        return self.result.text

    @property
    def adapter(self) -> str | None:
        return self.result.adapter


# --------------------------------------------------------------------------- validation helpers
def validate_prompt(prompt: Any, index: int | None = None) -> Prompt:
    """Check one prompt (a non-empty string, or a non-empty list of role/content dicts).

    Exposed so that wrappers can validate each prompt of a batch on its own and report a failure
    for that prompt only.
    """
    where = "prompt" if index is None else f"prompts[{index}]"
    if isinstance(prompt, str):
        if not prompt.strip():
            raise InvalidInputError(f"{where} is empty or whitespace only; give the text to answer")
        return prompt
    if isinstance(prompt, (list, tuple)):
        if not prompt:
            raise InvalidInputError(f"{where} is an empty message list; give at least one message")
        for j, m in enumerate(prompt):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
                raise InvalidInputError(f"{where}[{j}] must be a dict with string 'role' and 'content', got {m!r:.80}")
        if not any(m["content"].strip() for m in prompt):
            raise InvalidInputError(f"{where}: every message is empty; give the text to answer")
        return list(prompt)
    raise InvalidInputError(f"{where} must be a string or a list of chat messages, got {type(prompt).__name__}")


def route_text_of(prompt: Prompt) -> str:
    """The text a prompt is routed on: the string itself, or the last non-empty user message."""
    if isinstance(prompt, str):
        return prompt
    users = [m["content"] for m in prompt if m.get("role") == "user" and m["content"].strip()]
    if users:
        return users[-1]
    return "\n".join(m["content"] for m in prompt if m["content"].strip())


def forced_decision(adapter: str | None) -> RouteDecision:
    """The decision reported when the adapter was chosen by the caller, not by the router."""
    return RouteDecision(adapter=adapter, score=1.0, margin=1.0, scores={}, abstained=adapter is None,
                         best=adapter, runner_up=None)


def _no_router_decision() -> RouteDecision:
    return RouteDecision(adapter=None, score=0.0, margin=0.0, scores={}, abstained=True, best=None, runner_up=None)


# --------------------------------------------------------------------------- process-wide caches
_LOCK = threading.Lock()
_ROUTERS: dict[tuple[str, float], "AriadneRouter"] = {}
_RUNTIMES: dict[tuple[str, str | None, int], GenerationBackend] = {}
_KEY_LOCKS: dict[Any, threading.Lock] = {}


def _key_lock(key: Any) -> threading.Lock:
    with _LOCK:
        return _KEY_LOCKS.setdefault(key, threading.Lock())


def _index_key(index_dir: str | os.PathLike[str]) -> tuple[str, float]:
    root = Path(index_dir).expanduser().resolve()
    meta = root / "index.json"
    try:
        mtime = meta.stat().st_mtime
    except OSError:
        mtime = -1.0
    return str(root), mtime


def check_index(index_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Cheap check (index.json only) that ``index_dir`` is a routing index; returns its metadata.

    Raises IndexNotFoundError / IndexFormatError with a message saying what to do.
    """
    from ariadne_integrations.routing.persistence import read_index_meta

    return read_index_meta(Path(index_dir).expanduser())


def cached_router(index_dir: str | os.PathLike[str]) -> "AriadneRouter":
    """Load an index once per process (re-loaded when its index.json changes)."""
    key = _index_key(index_dir)
    router = _ROUTERS.get(key)
    if router is not None:
        return router
    with _key_lock(("router", key)):
        router = _ROUTERS.get(key)
        if router is None:
            from ariadne_integrations.routing.router import AriadneRouter

            logger.info("loading routing index %s", key[0])
            router = AriadneRouter.load(key[0])
            _ROUTERS[key] = router
    return router


def cached_runtime(index_dir: str | os.PathLike[str], backbone: str | None, max_loaded_adapters: int) -> GenerationBackend:
    """One AdapterRuntime per (index, backbone, LRU bound), with the index's adapter folders registered."""
    key = (_index_key(index_dir)[0], None if backbone is None else str(backbone), int(max_loaded_adapters))
    rt = _RUNTIMES.get(key)
    if rt is not None:
        return rt
    with _key_lock(("runtime", key)):
        rt = _RUNTIMES.get(key)
        if rt is None:
            from ariadne_integrations.runtime.adapters import AdapterRuntime

            router = cached_router(index_dir)
            paths = {n: p for n in router.adapters if (p := router.adapter_path(n))}
            missing = [n for n in router.adapters if n not in paths]
            if missing:
                logger.warning("index %s records no adapter folder for %s; queries routed there will fail", key[0], missing)
            logger.info("creating adapter runtime (backbone=%s, %d adapters)", backbone or "embedded default", len(paths))
            rt = AdapterRuntime(backbone=backbone, adapters=paths, max_loaded_adapters=max_loaded_adapters)
            _RUNTIMES[key] = rt
    return rt


def clear_caches() -> None:
    """Forget every cached router and runtime (tests; freeing memory)."""
    with _LOCK:
        _ROUTERS.clear()
        _RUNTIMES.clear()


# --------------------------------------------------------------------------- the generator
class RoutedGenerator:
    """Routes prompts with an :class:`AriadneRouter` and answers them with a :class:`GenerationBackend`.

    ``router`` may be None (then every prompt goes to the forced ``adapter``, or to the bare
    backbone). Either argument may also be a zero-argument callable that builds it on first use.
    """

    def __init__(
        self,
        router: "AriadneRouter | Callable[[], AriadneRouter] | None",
        backend: GenerationBackend | Callable[[], GenerationBackend],
        *,
        adapter: str | None = None,
        adapter_names: Sequence[str] | None = None,
    ) -> None:
        self._router_src = router
        self._backend_src = backend
        self._router: Any = None if callable(router) and not hasattr(router, "route_batch") else router
        self._backend: Any = None if callable(backend) and not hasattr(backend, "generate") else backend
        self._adapter_names = list(adapter_names) if adapter_names is not None else None
        self._lock = threading.Lock()
        self.adapter = self.check_adapter(adapter)

    @classmethod
    def from_index(
        cls,
        index_dir: str | os.PathLike[str],
        *,
        backbone: str | None = None,
        max_loaded_adapters: int = 8,
        backend: GenerationBackend | None = None,
        adapter: str | None = None,
    ) -> "RoutedGenerator":
        """A generator over a saved index. Only index.json is read now; models load on first use.

        ``backend=None`` registers the index's adapter folders on an ``AdapterRuntime`` over
        ``backbone`` (None = the embedded SmolLM2 default).
        """
        meta = check_index(index_dir)
        names = [a["name"] for a in meta["adapters"]]
        path = Path(index_dir).expanduser().resolve()
        if not isinstance(max_loaded_adapters, int) or max_loaded_adapters < 1:
            raise InvalidInputError(f"max_loaded_adapters must be a positive int, got {max_loaded_adapters!r}")
        be: Any = backend if backend is not None else (lambda: cached_runtime(path, backbone, max_loaded_adapters))
        return cls(lambda: cached_router(path), be, adapter=adapter, adapter_names=names)

    # ------------------------------------------------------------------ lazy parts
    def _once(self, attr: str, make: Callable[[], Any] | None) -> Any:
        """``self.<attr>``, created by ``make()`` on first use (once, even from several threads)."""
        if getattr(self, attr) is None and make is not None:
            with self._lock:
                if getattr(self, attr) is None:
                    setattr(self, attr, make())
        return getattr(self, attr)

    @property
    def router(self) -> "AriadneRouter | None":
        return self._once("_router", self._router_src)

    @property
    def backend(self) -> GenerationBackend:
        return self._once("_backend", self._backend_src)

    @property
    def loaded(self) -> bool:
        """Whether the router and backend have been created (False right after from_index)."""
        return self._backend is not None and (self._router is not None or self._router_src is None)

    @property
    def adapters(self) -> list[str]:
        """The adapter names the router can choose (known without loading models when built from an index)."""
        if self._adapter_names is not None:
            return list(self._adapter_names)
        r = self.router
        return list(r.adapters) if r is not None else []

    @property
    def model_name(self) -> str:
        return self.backend.model_name

    def check_adapter(self, adapter: str | None) -> str | None:
        """Validate a forced adapter name (None = route; :data:`BASE` = bare backbone)."""
        if adapter is None or adapter == BASE:
            return adapter
        if not isinstance(adapter, str) or not adapter:
            raise InvalidInputError(f"adapter must be an adapter name (string), got {adapter!r}")
        known = self._adapter_names
        if known is None and self._router is not None:
            known = list(self._router.adapters)
        if known is not None:
            if adapter not in known:
                raise UnknownAdapterError(
                    f"adapter {adapter!r} is not in the index; known adapters: {known} "
                    f"(or {BASE!r} for the bare backbone, or None to route)"
                )
        elif self._backend is not None and not self._backend.has_adapter(adapter):
            raise UnknownAdapterError(f"the backend has no adapter {adapter!r}")
        return adapter

    # ------------------------------------------------------------------ routing
    def route(self, texts: Sequence[str]) -> list[RouteDecision]:
        """Route many texts in one embedding pass."""
        router = self.router
        if router is None:
            return [_no_router_decision() for _ in texts]
        return router.route_batch(list(texts))

    def _decide(self, prompts: Sequence[Prompt], route_texts: Sequence[str] | None, adapter: str | None
                ) -> tuple[list[RouteDecision], bool]:
        forced = adapter if adapter is not None else self.adapter
        if forced is not None:
            self.check_adapter(forced)
            target = None if forced == BASE else forced
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
                raise UnknownAdapterError(
                    f"the router chose adapter {name!r} but the backend has no such adapter; record its folder in the "
                    f"index (`ariadne index build --adapter DIR`) or register it on the backend"
                )

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
        call (``BASE`` = no adapter): routing is skipped but a decision is still reported.
        """
        if isinstance(prompts, str) or not isinstance(prompts, Sequence):
            raise InvalidInputError(f"prompts must be a list of prompts, got {type(prompts).__name__}")
        if not prompts:
            raise InvalidInputError("prompts is empty: give at least one prompt")
        items = [validate_prompt(p, i) for i, p in enumerate(prompts)]
        config = config or GenerationConfig()
        decisions, forced = self._decide(items, route_texts, adapter)
        self._check_backend_has(decisions)
        results = self.backend.generate(items, [d.adapter for d in decisions], config)
        if len(results) != len(items):
            raise RuntimeError(f"backend returned {len(results)} results for {len(items)} prompts")
        return [RoutedResult(d, r, forced) for d, r in zip(decisions, results)]

    def stream(
        self,
        prompt: Prompt,
        config: GenerationConfig | None = None,
        *,
        route_text: str | None = None,
        adapter: str | None = None,
    ) -> tuple[RouteDecision, Iterator[StreamChunk]]:
        """Route one prompt, then stream its completion: ``(decision, chunks)``.

        Routing happens before the first chunk, so the decision is known up front.
        """
        item = validate_prompt(prompt)
        config = config or GenerationConfig()
        decisions, _ = self._decide([item], None if route_text is None else [route_text], adapter)
        self._check_backend_has(decisions)
        return decisions[0], self.backend.stream(item, decisions[0].adapter, config)

    def is_forced(self, adapter: str | None = None) -> bool:
        """Whether a call with this per-call ``adapter`` skips routing."""
        return adapter is not None or self.adapter is not None


def decision_fields(decision: RouteDecision, forced: bool = False) -> dict[str, Any]:
    """Flat, JSON-friendly routing metadata (for generation_info / response_metadata / traces)."""
    def _num(x: float) -> float | None:
        return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)

    return {
        "adapter": decision.adapter,
        "score": _num(decision.score),
        "margin": _num(decision.margin),
        "abstained": bool(decision.abstained),
        "best": decision.best,
        "runner_up": decision.runner_up,
        "forced": bool(forced),
    }
