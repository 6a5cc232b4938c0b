"""Process-wide caches of loaded routers and adapter runtimes.

Why: many wrapper objects (one per chain, per request, per test) over the same index must share one
embedder and one backbone in memory. Routers are keyed by the resolved index path and the index's
content checksum (``content_sha256`` of its manifest), so a re-saved index is loaded again; a runtime
is kept per (index path, backbone, LRU bound) and its registered adapters are synced to the index's
newest content (new adapters registered, removed ones forgotten, moved ones re-registered).
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ariadne_integrations.constants import INDEX_META_FILE
from ariadne_integrations.devices import check_device, check_dtype
from ariadne_integrations.runtime.generation import GenerationBackend

if TYPE_CHECKING:  # pragma: no cover
    from ariadne_integrations.routing.router import AriadneRouter

logger = logging.getLogger(__name__)

__all__ = ["check_index", "cached_router", "cached_runtime", "bare_runtime", "clear_caches", "index_version"]

_LOCK = threading.Lock()
_ROUTERS: dict[tuple[str, str, str], AriadneRouter] = {}
_RUNTIMES: dict[tuple[str | None, str | None, int, str, str], GenerationBackend] = {}
_RUNTIME_VERSIONS: dict[tuple[str | None, str | None, int, str, str], str] = {}
_KEY_LOCKS: dict[Any, threading.Lock] = {}
_STAMPS: dict[str, tuple[tuple[int, int, int], str]] = {}  # index root -> (stat of index.json, content checksum)


def _key_lock(key: Any) -> threading.Lock:
    with _LOCK:
        return _KEY_LOCKS.setdefault(key, threading.Lock())


def index_version(index_dir: str | os.PathLike[str]) -> str:
    """The index's content checksum (its manifest's ``content_sha256``; for a format-1 index, the sha256
    of ``index.json``); "" when it cannot be read.

    Why not the modification time: two saves within the clock's resolution, or a copy that keeps times,
    look unchanged. The manifest is replaced atomically on save, so it is re-read only when its stat
    (inode, mtime, size) changed: one stat per call otherwise.
    """
    root = str(Path(index_dir).expanduser().resolve())
    path = Path(root) / INDEX_META_FILE
    try:
        st = path.stat()
    except OSError:
        return ""
    stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
    known = _STAMPS.get(root)
    if known is not None and known[0] == stamp:
        return known[1]
    try:
        raw = path.read_bytes()
    except OSError:
        return ""
    digest = ""
    try:
        import json

        meta = json.loads(raw)
        digest = meta.get("content_sha256") or "" if isinstance(meta, dict) else ""
    except ValueError:
        pass
    digest = digest or hashlib.sha256(raw).hexdigest()
    _STAMPS[root] = (stamp, digest)
    return digest


def _index_key(index_dir: str | os.PathLike[str]) -> tuple[str, str]:
    return str(Path(index_dir).expanduser().resolve()), index_version(index_dir)


def check_index(index_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Cheap check (index.json only) that ``index_dir`` is a routing index; returns its metadata.

    Raises IndexNotFoundError / IndexFormatError with a message saying what to do.
    """
    from ariadne_integrations.routing.persistence import read_index_meta

    return read_index_meta(Path(index_dir).expanduser())


def cached_router(index_dir: str | os.PathLike[str], device: str | None = "auto") -> AriadneRouter:
    """Load an index once per process and embedder device (re-loaded when its content checksum changes).

    ``device``: where a re-created embedder runs, the runtime's choice ("auto": CUDA when available, else CPU).
    """
    key = (*_index_key(index_dir), check_device(device))
    router = _ROUTERS.get(key)
    if router is not None:
        return router
    with _key_lock(("router", key)):
        router = _ROUTERS.get(key)
        if router is None:
            from ariadne_integrations.routing.router import AriadneRouter

            logger.info("loading routing index %s (embedder device %s)", key[0], key[2])
            router = AriadneRouter.load(key[0], device=key[2])
            with _LOCK:
                for old in [k for k in _ROUTERS if k[0] == key[0] and k[1] != key[1]]:  # older contents of the same folder
                    del _ROUTERS[old]
                _ROUTERS[key] = router
    return router


def _runtime(key: tuple[str | None, str | None, int, str, str], adapters: dict[str, str] | None) -> GenerationBackend:
    rt = _RUNTIMES.get(key)
    if rt is not None:
        return rt
    with _key_lock(("runtime", key)):
        rt = _RUNTIMES.get(key)
        if rt is None:
            from ariadne_integrations.runtime.adapters import AdapterRuntime

            logger.info("creating adapter runtime (backbone=%s, device=%s, dtype=%s, %d adapters)", key[1] or "embedded default",
                        key[3], key[4], len(adapters or {}))
            rt = AdapterRuntime(backbone=key[1], max_loaded_adapters=key[2], device=key[3], dtype=key[4])
            for name, path in (adapters or {}).items():
                rt.register_adapter(name, path, strict=False)  # a broken folder fails only its own rows
            _RUNTIMES[key] = rt
    return rt


def _sync_adapters(rt: Any, paths: dict[str, str]) -> None:
    """Make ``rt``'s registered adapters exactly ``paths`` (a re-saved index added, removed or moved some)."""
    for name in rt.registered_adapters:
        if name not in paths:
            logger.info("adapter %s left the index; unregistering it", name)
            rt.unregister_adapter(name)
    for name, path in paths.items():
        if name in rt.registered_adapters and rt.adapter_folder(name) == Path(path).expanduser().resolve():
            continue
        if name in rt.registered_adapters:
            rt.unregister_adapter(name)
        logger.info("registering adapter %s from the re-saved index", name)
        rt.register_adapter(name, path, strict=False)


def cached_runtime(index_dir: str | os.PathLike[str], backbone: str | None, max_loaded_adapters: int,
                   device: str | None = "auto", dtype: str | None = "auto") -> GenerationBackend:
    """One AdapterRuntime per (index, backbone, LRU bound, device, dtype), with the index's adapter folders
    registered (synced again whenever the index's content checksum changed since)."""
    root, digest = _index_key(index_dir)
    key = (root, None if backbone is None else str(backbone), int(max_loaded_adapters), check_device(device), check_dtype(dtype))
    if key in _RUNTIMES and _RUNTIME_VERSIONS.get(key) == digest:
        return _RUNTIMES[key]
    router = cached_router(index_dir, device)
    paths = {n: p for n in router.adapters if (p := router.adapter_path(n))}
    missing = [n for n in router.adapters if n not in paths]
    if missing:
        logger.warning("index %s records no adapter folder for %s; queries routed there will fail", key[0], missing)
    fresh = key not in _RUNTIMES
    rt = _runtime(key, paths)
    if not fresh:
        with _key_lock(("runtime", key)):
            if _RUNTIME_VERSIONS.get(key) != digest:
                _sync_adapters(rt, paths)
    _RUNTIME_VERSIONS[key] = digest
    return rt


def bare_runtime(backbone: str | None, max_loaded_adapters: int = 8, device: str | None = "auto",
                 dtype: str | None = "auto") -> GenerationBackend:
    """An AdapterRuntime with no adapters (the bare backbone), shared per (backbone, device, dtype)."""
    key = (None, None if backbone is None else str(backbone), int(max_loaded_adapters), check_device(device), check_dtype(dtype))
    return _runtime(key, None)


def clear_caches() -> None:
    """Forget every cached router and runtime (tests; freeing memory)."""
    with _LOCK:
        _ROUTERS.clear()
        _RUNTIMES.clear()
        _RUNTIME_VERSIONS.clear()
        _STAMPS.clear()
