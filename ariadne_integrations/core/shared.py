"""Process-wide caches of loaded routers and adapter runtimes.

Why: many wrapper objects (one per chain, per request, per test) over the same index must share one
embedder and one backbone in memory. Keys hold the resolved index path and its ``index.json``
modification time, so a re-saved index is loaded again.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ariadne_integrations.constants import INDEX_META_FILE
from ariadne_integrations.runtime.generation import GenerationBackend

if TYPE_CHECKING:  # pragma: no cover
    from ariadne_integrations.routing.router import AriadneRouter

logger = logging.getLogger(__name__)

__all__ = ["check_index", "cached_router", "cached_runtime", "bare_runtime", "clear_caches"]

_LOCK = threading.Lock()
_ROUTERS: dict[tuple[str, float], AriadneRouter] = {}
_RUNTIMES: dict[tuple[str | None, str | None, int], GenerationBackend] = {}
_KEY_LOCKS: dict[Any, threading.Lock] = {}


def _key_lock(key: Any) -> threading.Lock:
    with _LOCK:
        return _KEY_LOCKS.setdefault(key, threading.Lock())


def _index_key(index_dir: str | os.PathLike[str]) -> tuple[str, float]:
    root = Path(index_dir).expanduser().resolve()
    try:
        mtime = (root / INDEX_META_FILE).stat().st_mtime
    except OSError:
        mtime = -1.0
    return str(root), mtime


def check_index(index_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Cheap check (index.json only) that ``index_dir`` is a routing index; returns its metadata.

    Raises IndexNotFoundError / IndexFormatError with a message saying what to do.
    """
    from ariadne_integrations.routing.persistence import read_index_meta

    return read_index_meta(Path(index_dir).expanduser())


def cached_router(index_dir: str | os.PathLike[str]) -> AriadneRouter:
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


def _runtime(key: tuple[str | None, str | None, int], adapters: dict[str, str] | None) -> GenerationBackend:
    rt = _RUNTIMES.get(key)
    if rt is not None:
        return rt
    with _key_lock(("runtime", key)):
        rt = _RUNTIMES.get(key)
        if rt is None:
            from ariadne_integrations.runtime.adapters import AdapterRuntime

            logger.info("creating adapter runtime (backbone=%s, %d adapters)", key[1] or "embedded default",
                        len(adapters or {}))
            rt = AdapterRuntime(backbone=key[1], adapters=adapters or {}, max_loaded_adapters=key[2])
            _RUNTIMES[key] = rt
    return rt


def cached_runtime(index_dir: str | os.PathLike[str], backbone: str | None, max_loaded_adapters: int) -> GenerationBackend:
    """One AdapterRuntime per (index, backbone, LRU bound), with the index's adapter folders registered."""
    key = (_index_key(index_dir)[0], None if backbone is None else str(backbone), int(max_loaded_adapters))
    if key in _RUNTIMES:
        return _RUNTIMES[key]
    router = cached_router(index_dir)
    paths = {n: p for n in router.adapters if (p := router.adapter_path(n))}
    missing = [n for n in router.adapters if n not in paths]
    if missing:
        logger.warning("index %s records no adapter folder for %s; queries routed there will fail", key[0], missing)
    return _runtime(key, paths)


def bare_runtime(backbone: str | None, max_loaded_adapters: int = 8) -> GenerationBackend:
    """An AdapterRuntime with no adapters (the bare backbone), shared per backbone."""
    return _runtime((None, None if backbone is None else str(backbone), int(max_loaded_adapters)), None)


def clear_caches() -> None:
    """Forget every cached router and runtime (tests; freeing memory)."""
    with _LOCK:
        _ROUTERS.clear()
        _RUNTIMES.clear()
