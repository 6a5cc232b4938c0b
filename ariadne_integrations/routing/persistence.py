"""Saving and loading a routing index folder, atomically, with everything checked on load.

Layout of an index folder::

    centroids.safetensors   "centroids" (C, d) float32, all adapters stacked in order;
                            "offsets" (A + 1,) int64, adapter i owns rows offsets[i]:offsets[i+1]
    index.json              format name + version, embedder identity, strategy, thresholds,
                            adapters (name, examples, centroids, adapter path), sha256 of the
                            centroids file

Why a checksum in the JSON: the two files cannot be replaced in one atomic step when the folder
holds other things (adapters next to the index), so a reader checks they belong together; a
corrupt, truncated or mismatched pair is an IndexFormatError, never a wrong routing answer.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ariadne_integrations.constants import INDEX_CENTROIDS_FILE, INDEX_META_FILE
from ariadne_integrations.errors import IndexFormatError, IndexNotFoundError, InvalidInputError
from ariadne_integrations.routing.centroid_index import CentroidIndex

log = logging.getLogger(__name__)

FORMAT_NAME = "ariadne-routing-index"
FORMAT_VERSION = 1
_OWN_FILES = {INDEX_META_FILE, INDEX_CENTROIDS_FILE}


@dataclass
class IndexPayload:
    """Everything an index folder holds, as plain Python + numpy (what the router saves and loads)."""

    embedder: dict[str, Any]
    strategy: dict[str, Any]
    thresholds: dict[str, float | None]
    names: list[str]
    centroids: list[np.ndarray]  # one (m_i, d) float32 array per adapter
    n_examples: list[int]
    adapter_paths: list[str | None]  # absolute paths (or None); stored relative when inside the folder
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_index(
        cls,
        index: CentroidIndex,
        *,
        embedder: dict[str, Any],
        strategy: dict[str, Any],
        thresholds: dict[str, float | None],
    ) -> IndexPayload:
        """What to save for ``index``, with the settings the index file records beside it."""
        return cls(
            embedder=embedder,
            strategy=strategy,
            thresholds=thresholds,
            names=list(index.names),
            centroids=list(index.centroids),
            n_examples=list(index.n_examples),
            adapter_paths=list(index.adapter_paths),
        )

    def to_index(self) -> CentroidIndex:
        """The loaded centroids as a :class:`CentroidIndex` (dimension from the embedder identity)."""
        return CentroidIndex(tuple(self.names), tuple(self.centroids), tuple(self.n_examples),
                             tuple(self.adapter_paths), int(self.embedder["dimension"]))


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _relativise(path: str | None, folder: Path) -> str | None:
    if path is None:
        return None
    # Relative when the adapter lives inside the index folder or beside it (a project folder holding
    # index/ and adapters/), so the pair can be moved or cloned together; absolute otherwise.
    p = Path(path).resolve()
    root = folder.resolve()
    for base in (root, root.parent):
        try:
            p.relative_to(base)
        except ValueError:
            continue
        return Path(os.path.relpath(p, root)).as_posix()
    return str(p)


def _write_folder(tmp: Path, payload: IndexPayload, target: Path) -> None:
    from safetensors.numpy import save_file

    dim = int(payload.embedder["dimension"])
    mats = [np.ascontiguousarray(c, dtype=np.float32).reshape(-1, dim) for c in payload.centroids]
    counts = [m.shape[0] for m in mats]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    stacked = np.concatenate(mats, axis=0) if mats else np.zeros((0, dim), dtype=np.float32)
    save_file({"centroids": stacked, "offsets": offsets}, str(tmp / INDEX_CENTROIDS_FILE), metadata={"format": FORMAT_NAME})
    with open(tmp / INDEX_CENTROIDS_FILE, "rb+") as fh:
        os.fsync(fh.fileno())
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "embedder": payload.embedder,
        "strategy": payload.strategy,
        "thresholds": payload.thresholds,
        "dimension": dim,
        "n_centroids": int(stacked.shape[0]),
        "adapters": [
            {
                "name": name,
                "n_examples": int(n),
                "n_centroids": int(c),
                "adapter_path": _relativise(path, target),
            }
            for name, n, c, path in zip(payload.names, payload.n_examples, counts, payload.adapter_paths)
        ],
        "centroids_sha256": _sha256(tmp / INDEX_CENTROIDS_FILE),
        **({"extra": payload.extra} if payload.extra else {}),
    }
    _fsync_write(tmp / INDEX_META_FILE, (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def save_index(folder: str | os.PathLike[str], payload: IndexPayload) -> Path:
    """Write ``payload`` to ``folder`` atomically: a reader sees the old index or the new one.

    The files are written into a temporary folder next to the target first. A target that does not
    exist or holds only index files is swapped whole (rename); a target with other content (say,
    adapter folders) gets its two files replaced with os.replace, centroids first, and the checksum in
    index.json guards the moment in between. Any failure removes the temporary folder and leaves the
    previous index as it was.
    """
    target = Path(folder)
    if target.exists() and not target.is_dir():
        raise InvalidInputError(f"{target} exists and is not a folder; give a folder path for the index")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        _write_folder(tmp, payload, target.resolve())
        if not target.exists():
            os.rename(tmp, target)
        elif set(os.listdir(target)) <= _OWN_FILES:
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(target, old)
            try:
                os.rename(tmp, target)
            except BaseException:
                os.rename(old, target)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp / INDEX_CENTROIDS_FILE, target / INDEX_CENTROIDS_FILE)
            os.replace(tmp / INDEX_META_FILE, target / INDEX_META_FILE)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("saved routing index with %d adapters to %s", len(payload.names), target)
    return target


def read_index_meta(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate ``index.json`` only (cheap: for `ariadne index info`)."""
    root = Path(folder)
    if not root.exists():
        raise IndexNotFoundError(f"routing index folder {root} does not exist; build one with `ariadne index build`")
    if not root.is_dir():
        raise IndexFormatError(f"{root} is not a folder; a routing index is a folder with {INDEX_META_FILE} and {INDEX_CENTROIDS_FILE}")
    path = root / INDEX_META_FILE
    if not path.is_file():
        raise IndexNotFoundError(f"{root} has no {INDEX_META_FILE}: it is not a routing index (or the save never finished)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexFormatError(f"{path} is corrupt or truncated ({exc}); rebuild the index") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise IndexFormatError(f"{path} is not an ARIADNE routing index (format {found!r})")
    version = meta.get("version")
    if not isinstance(version, int) or version < 1:
        raise IndexFormatError(f"{path} has an invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise IndexFormatError(
            f"{path} uses index format version {version}, newer than this package supports ({FORMAT_VERSION}); upgrade ariadne-integrations"
        )
    try:
        emb = meta["embedder"]
        for key in ("name", "dimension", "fingerprint"):
            emb[key]
        adapters = meta["adapters"]
        for a in adapters:
            a["name"], a["n_examples"], a["n_centroids"]
        meta["strategy"]["name"]
        meta["thresholds"]
        meta["centroids_sha256"]
    except (KeyError, TypeError) as exc:
        raise IndexFormatError(f"{path} is missing required entry {exc}; rebuild the index") from None
    names = [a["name"] for a in adapters]
    if len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
        raise IndexFormatError(f"{path} lists empty or duplicate adapter names")
    return meta


def load_index(folder: str | os.PathLike[str]) -> IndexPayload:
    """Load and check an index folder; raise IndexNotFoundError / IndexFormatError, never guess."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    root = Path(folder)
    meta = read_index_meta(root)
    cpath = root / INDEX_CENTROIDS_FILE
    if not cpath.is_file():
        raise IndexNotFoundError(f"{root} has no {INDEX_CENTROIDS_FILE}; the index is incomplete, rebuild it")
    if _sha256(cpath) != meta["centroids_sha256"]:
        raise IndexFormatError(f"{cpath} does not match {INDEX_META_FILE} (checksum differs): corrupt, truncated or from another save")
    try:
        tensors = load_file(str(cpath))
    except (SafetensorError, OSError, ValueError) as exc:
        raise IndexFormatError(f"{cpath} is not a readable safetensors file ({exc})") from None
    if set(tensors) != {"centroids", "offsets"}:
        raise IndexFormatError(f"{cpath} holds tensors {sorted(tensors)}, expected 'centroids' and 'offsets'")
    cents, offsets = tensors["centroids"], tensors["offsets"]
    dim = int(meta["embedder"]["dimension"])
    adapters = meta["adapters"]
    counts = [int(a["n_centroids"]) for a in adapters]
    expect_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    if cents.dtype != np.float32 or cents.ndim != 2 or cents.shape != (int(expect_offsets[-1]), dim):
        raise IndexFormatError(f"{cpath}: centroid matrix {cents.shape} {cents.dtype} does not match {INDEX_META_FILE} "
                               f"({int(expect_offsets[-1])}, {dim}) float32")
    if offsets.shape != expect_offsets.shape or not np.array_equal(offsets, expect_offsets):
        raise IndexFormatError(f"{cpath}: offsets do not match the adapter list in {INDEX_META_FILE}")
    if any(c < 1 for c in counts):
        raise IndexFormatError(f"{INDEX_META_FILE}: every adapter needs at least one centroid")
    if not np.all(np.isfinite(cents)):
        raise IndexFormatError(f"{cpath}: centroids contain NaN or infinite values")
    paths: list[str | None] = []
    for a in adapters:
        p = a.get("adapter_path")
        if p is None:
            paths.append(None)
        else:
            pp = Path(p)
            paths.append(str(pp if pp.is_absolute() else (root / pp).resolve()))
    return IndexPayload(
        embedder=dict(meta["embedder"]),
        strategy=dict(meta["strategy"]),
        thresholds=dict(meta["thresholds"]),
        names=[a["name"] for a in adapters],
        centroids=[cents[expect_offsets[i] : expect_offsets[i + 1]].copy() for i in range(len(adapters))],
        n_examples=[int(a["n_examples"]) for a in adapters],
        adapter_paths=paths,
        extra=dict(meta.get("extra", {})),
    )
