"""Saving and loading a routing index folder: immutable snapshots behind one atomically replaced manifest.

Layout of an index folder (format version 2)::

    index.json          the manifest: format name + version, generation, the snapshot it names, embedder
                        identity, strategy, thresholds, adapters (name, examples, centroids, adapter path),
                        sha256 of the snapshot's centroid file, and ``content_sha256`` over all of that
    snapshots/<generation>-<random>/centroids.safetensors
                        "centroids" (C, d) float32, all adapters stacked in order; "offsets" (A + 1,) int64,
                        adapter i owns rows offsets[i]:offsets[i+1]. Written once, never changed.

Anything else in the folder (adapters beside the index, a README) is left alone.

Save (:func:`save_index`; one writer at a time per folder, by an ``flock`` on ``snapshots/`` where the OS has it):

1. write a new snapshot folder and fsync it;
2. write the manifest to a temporary file in the index folder, fsync it, and ``os.replace`` it onto
   ``index.json``: one rename of one file, atomic, so a reader sees the old manifest or the new one;
3. remove every snapshot except the new one and the previous one (a reader that has just read the previous
   manifest can still open its centroids), temporary manifests and snapshots of crashed saves, and a
   version-1 centroid file once a version-2 manifest has replaced the one that named it.

A save killed at any moment leaves the previous index loadable (and nothing at all only if there was none);
whatever it half wrote is removed by the next save.

Load (:func:`load_index`): read ``index.json`` in one read and validate it (a pydantic schema, then
``content_sha256``), read the named snapshot's centroid file in one read and check its sha256 on those very
bytes, then check shapes and that every centroid is a unit vector. If the snapshot has gone because a save
replaced ``index.json`` meanwhile, start again (bounded). A load therefore returns exactly one saved version,
or raises :class:`~ariadne_integrations.errors.IndexFormatError` / ``IndexNotFoundError``.

Version 1 (``index.json`` + ``centroids.safetensors`` side by side, the checksum covering the centroid file
only; the packaged demo index) still loads, with the same schema and centroid checks. Saving over it writes
version 2 (migration); the old centroid file is removed by the save after that one.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Iterator, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from ariadne_integrations.constants import INDEX_CENTROIDS_FILE, INDEX_META_FILE
from ariadne_integrations.errors import (
    IndexFormatError,
    IndexNotFoundError,
    IndexOverwriteError,
    IndexWriteError,
    InvalidInputError,
    printable,
)
from ariadne_integrations.routing.centroid_index import UNIT_NORM_TOLERANCE, CentroidIndex, check_adapter_name

log = logging.getLogger(__name__)

FORMAT_NAME = "ariadne-routing-index"
FORMAT_VERSION = 2
"""The version this package writes. It reads versions 1 and 2."""
SNAPSHOTS_DIR = "snapshots"

_SNAPSHOT_RE = re.compile(r"^[0-9]{6,20}-[0-9a-f]{8}$")
_TMP_PREFIX = f".{INDEX_META_FILE}.tmp-"
_TMP_RE = re.compile(re.escape(_TMP_PREFIX) + r"[0-9a-f]{16}$")
_READ_ATTEMPTS = 50
_LOCK_TIMEOUT_S = 120.0
_UNLOCKED_GRACE_S = 600.0  # without flock, only leftovers older than this are removed (another save may be writing)
_PEEK_LIMIT = 64 * 1024 * 1024
_MAX_GENERATION = 10**18


# ---------------------------------------------------------------------------------------------- schema
def _clean_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("holds a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"holds a lone surrogate at character {exc.start}") from None
    return value


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty")
    return _clean_text(value)


def _adapter_name(value: str) -> str:
    try:
        return check_adapter_name(value)
    except InvalidInputError as exc:
        raise ValueError(str(exc)) from None


_Text = Annotated[str, AfterValidator(_clean_text)]
_NonEmpty = Annotated[str, AfterValidator(_non_empty)]
_AdapterName = Annotated[str, AfterValidator(_adapter_name)]
_Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _Strict(BaseModel):
    """No coercion ("5" is not 5, true is not 1), no NaN or infinity, no unknown keys."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


class EmbedderInfo(_Strict):
    """What an index records about its embedder (enough to re-create and to check it)."""

    model_config = ConfigDict(extra="allow")  # an embedder may describe itself further
    name: _NonEmpty
    spec: _NonEmpty | None = None
    dimension: int = Field(ge=1, le=1 << 20)
    fingerprint: _NonEmpty


class StrategyInfo(_Strict):
    name: _NonEmpty
    centroids: int | None = Field(default=None, ge=1)
    seed: int = Field(default=0, ge=0, lt=2**63)


class ThresholdsInfo(_Strict):
    threshold: float | None = None
    min_margin: float | None = None
    # per-adapter score thresholds (AriadneRouter.calibrate(method="per_adapter")); absent in older indices
    per_adapter: dict[_AdapterName, float] | None = None


class AdapterInfo(_Strict):
    name: _AdapterName
    n_examples: int = Field(ge=0)
    n_centroids: int = Field(ge=1)
    adapter_path: _NonEmpty | None = None


class IndexManifest(_Strict):
    """The schema of ``index.json`` (versions 1 and 2)."""

    format: Literal["ariadne-routing-index"]
    version: Literal[1, 2]
    generation: int | None = Field(default=None, ge=1, lt=_MAX_GENERATION)
    snapshot: Annotated[str, Field(pattern=_SNAPSHOT_RE.pattern)] | None = None
    embedder: EmbedderInfo
    strategy: StrategyInfo
    thresholds: ThresholdsInfo
    dimension: int | None = None
    n_centroids: int | None = None
    adapters: list[AdapterInfo] = Field(min_length=1)
    centroids_sha256: _Sha256
    content_sha256: _Sha256 | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> IndexManifest:
        if self.version >= 2 and (self.generation is None or self.snapshot is None or self.content_sha256 is None):
            raise ValueError("a version 2 index needs 'generation', 'snapshot' and 'content_sha256'")
        if self.version == 1 and self.snapshot is not None:
            raise ValueError("a version 1 index has no 'snapshot'")
        names = [a.name for a in self.adapters]
        if len(set(names)) != len(names):
            raise ValueError(f"adapter names repeat: {sorted({n for n in names if names.count(n) > 1})}")
        if self.dimension is not None and self.dimension != self.embedder.dimension:
            raise ValueError(f"dimension {self.dimension} does not match the embedder's {self.embedder.dimension}")
        unknown = sorted(set(self.thresholds.per_adapter or ()) - set(names))
        if unknown:
            raise ValueError(f"thresholds.per_adapter names adapters not in the index: {unknown[:5]}")
        total = sum(a.n_centroids for a in self.adapters)
        if self.n_centroids is not None and self.n_centroids != total:
            raise ValueError(f"n_centroids {self.n_centroids} does not match the adapters' total {total}")
        return self


def _describe(exc: ValidationError) -> str:
    """A short, ASCII-safe account of a schema failure (never echoes a 100k-character value)."""
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        if err["type"] == "missing":
            parts.append(f"missing required entry {loc!r}")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}")
    more = f" (and {len(exc.errors()) - 3} more)" if len(exc.errors()) > 3 else ""
    return printable("; ".join(parts) + more)


def content_digest(manifest: dict[str, Any]) -> str:
    """sha256 of a manifest's canonical JSON without its own ``content_sha256`` (what that field holds)."""
    body = {k: v for k, v in manifest.items() if k != "content_sha256"}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(canon.encode("ascii")).hexdigest()


# ---------------------------------------------------------------------------------------------- payload
@dataclass
class IndexPayload:
    """Everything an index folder holds, as plain Python + numpy (what the router saves and loads)."""

    embedder: dict[str, Any]
    strategy: dict[str, Any]
    thresholds: dict[str, Any]  # threshold, min_margin (float | None); per_adapter ({name: float}) when set
    names: list[str]
    centroids: list[np.ndarray]  # one (m_i, d) float32 array per adapter
    n_examples: list[int]
    adapter_paths: list[str | None]  # absolute paths (or None); stored relative when inside the folder
    extra: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    """The manifest as read (empty for a payload about to be saved)."""

    @classmethod
    def from_index(
        cls,
        index: CentroidIndex,
        *,
        embedder: dict[str, Any],
        strategy: dict[str, Any],
        thresholds: dict[str, Any],
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


# ---------------------------------------------------------------------------------------------- paths
def _fs_path(folder: Any, what: str = "index folder") -> Path:
    """``folder`` as a Path the OS can be asked about, or InvalidInputError (not a path, NUL, unencodable)."""
    if not isinstance(folder, (str, os.PathLike)):
        raise InvalidInputError(f"the {what} must be a path, got {type(folder).__name__}")
    path = Path(folder)
    with contextlib.suppress(RuntimeError):  # "~nosuchuser": keep the path as given
        path = path.expanduser()
    text = str(path)
    if "\x00" in text:
        raise InvalidInputError(f"the {what} path {text!a} holds a NUL character")
    try:
        os.fsencode(path)
    except UnicodeEncodeError:
        raise InvalidInputError(f"the {what} path {text!a} cannot be encoded for the file system") from None
    return path


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened; the rename is durable enough there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_new_file(path: Path, data: bytes) -> None:
    """Create ``path`` (it must not exist), write ``data``, fsync."""
    with open(path, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


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


def _peek_manifest(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path`` if it is one of ours (format name), else None; never raises."""
    try:
        if path.stat().st_size > _PEEK_LIMIT:
            return None
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == FORMAT_NAME else None


def _is_our_centroid_file(path: Path) -> bool:
    """True when ``path`` is a safetensors file this module wrote (its header metadata names our format)."""
    try:
        with open(path, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            if not 0 < n <= 100 * 1024 * 1024:
                return False
            header = json.loads(fh.read(n).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(header, dict) and isinstance(header.get("__metadata__"), dict) \
        and header["__metadata__"].get("format") == FORMAT_NAME


# ---------------------------------------------------------------------------------------------- saving
def _check_can_write(root: Path) -> None:
    """Refuse a non-empty folder that is not a routing index of ours (IndexOverwriteError)."""
    entries = sorted(os.listdir(root))
    if not entries:
        return
    ours = _peek_manifest(root / INDEX_META_FILE) if INDEX_META_FILE in entries else None
    if ours is not None:
        version = ours.get("version")
        if isinstance(version, int) and version > FORMAT_VERSION:
            raise IndexOverwriteError(
                f"refusing to replace the routing index in {printable(root)}: it uses format version {version}, newer than "
                f"this package writes ({FORMAT_VERSION}); upgrade ariadne-integrations, or pass overwrite=True (CLI: --overwrite)"
            )
        return
    if INDEX_META_FILE not in entries and all(n == SNAPSHOTS_DIR or _TMP_RE.match(n) for n in entries):
        return  # what a first save that was killed leaves behind
    shown = ", ".join(printable(n, 60) for n in entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
    what = (f"its {INDEX_META_FILE} is not a routing index and would be replaced" if INDEX_META_FILE in entries
            else f"it holds {shown}")
    raise IndexOverwriteError(
        f"refusing to write a routing index into {printable(root)}: the folder is not empty and is not a routing "
        f"index ({what}). Choose a new or empty folder, or pass overwrite=True (CLI: --overwrite) to add the index's "
        f"files beside what is there"
    )


@contextlib.contextmanager
def _writer_lock(folder: Path) -> Iterator[bool]:
    """Hold an exclusive flock on ``folder`` (released by close, and by the kernel if the process dies).

    Yields False where flock is unavailable (Windows, some network file systems): saves then are not
    serialised, and cleanup spares anything younger than ``_UNLOCKED_GRACE_S``.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield False
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        deadline = time.monotonic() + _LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise IndexWriteError(
                        f"another process has been saving the index in {folder.parent} for {_LOCK_TIMEOUT_S:.0f} s; try again"
                    ) from None
                time.sleep(0.005)
            except OSError:  # flock not supported here
                locked = False
                break
        yield locked
    finally:
        os.close(fd)


def _stacked(payload: IndexPayload) -> tuple[bytes, list[int], int]:
    from safetensors.numpy import save

    dim = int(payload.embedder["dimension"])
    mats = [np.ascontiguousarray(c, dtype=np.float32).reshape(-1, dim) for c in payload.centroids]
    counts = [m.shape[0] for m in mats]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    stacked = np.concatenate(mats, axis=0) if mats else np.zeros((0, dim), dtype=np.float32)
    blob = save({"centroids": stacked, "offsets": offsets}, metadata={"format": FORMAT_NAME})
    return blob, counts, dim


def _manifest(payload: IndexPayload, root: Path, generation: int, snapshot: str, blob: bytes,
              counts: list[int], dim: int) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "generation": generation,
        "snapshot": snapshot,
        "embedder": payload.embedder,
        "strategy": payload.strategy,
        "thresholds": payload.thresholds,
        "dimension": dim,
        "n_centroids": int(sum(counts)),
        "adapters": [
            {"name": name, "n_examples": int(n), "n_centroids": int(c), "adapter_path": _relativise(path, root)}
            for name, n, c, path in zip(payload.names, payload.n_examples, counts, payload.adapter_paths)
        ],
        "centroids_sha256": hashlib.sha256(blob).hexdigest(),
    }
    if payload.extra:
        meta["extra"] = payload.extra
    try:
        meta = json.loads(json.dumps(meta))  # plain JSON values only (what a reader will parse)
        meta["content_sha256"] = content_digest(meta)
        IndexManifest.model_validate(meta)  # what is written is what a reader accepts
    except ValidationError as exc:
        raise InvalidInputError(f"cannot save this index: {_describe(exc)}") from None
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"cannot save this index: {exc}") from None
    return meta


def check_index_target(folder: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Whether :func:`save_index` may write to ``folder``; returns the real folder (symlinks resolved).

    Cheap and writes nothing, so a command can check its output path before the slow work. Raises what
    save_index raises for the path: IndexOverwriteError, IndexWriteError, InvalidInputError.
    """
    given = _fs_path(folder)
    try:
        root = given.resolve()  # through symlinks: the folder a link points to is updated, the link stays
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise IndexWriteError(f"cannot use {printable(given)} as the index folder: {exc}") from None
    shown = printable(root)
    if root.exists():
        if not root.is_dir():
            raise IndexWriteError(f"{shown} exists and is not a folder; give a folder path for the index")
        if not overwrite:
            _check_can_write(root)
        return root
    for parent in root.parents:  # the first ancestor that exists must be a folder (not `file.txt/sub`)
        if parent.exists():
            if not parent.is_dir():
                raise IndexWriteError(f"cannot create the index folder {shown}: {printable(parent)} is a file, not a folder")
            break
    return root


def save_index(folder: str | os.PathLike[str], payload: IndexPayload, *, overwrite: bool = False) -> Path:
    """Write ``payload`` as a new snapshot of the index in ``folder`` (see the module doc); returns ``folder``.

    ``folder`` may not exist yet, may be an index of ours (re-saving), or, with ``overwrite=True``, any
    folder (the index's files are added beside the rest, which is not touched). A symlink is followed: the
    folder it points to is updated and the link stays. Raises IndexOverwriteError (a non-empty folder that
    is not an index, without ``overwrite``), IndexWriteError (the OS refused: not a folder, no space, no
    permission; nothing changed), InvalidInputError (an unusable path or payload).
    """
    root = check_index_target(folder, overwrite=overwrite)
    shown = printable(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IndexWriteError(f"cannot create the index folder {shown}: {exc.strerror or exc}") from None
    if not overwrite:
        _check_can_write(root)  # again: it may have been created meanwhile
    snaps = root / SNAPSHOTS_DIR
    try:
        snaps.mkdir(exist_ok=True)
    except OSError as exc:
        raise IndexWriteError(f"cannot create {printable(snaps)}: {exc.strerror or exc}") from None
    if not snaps.is_dir():
        raise IndexWriteError(f"{printable(snaps)} exists and is not a folder; it is where the index keeps its snapshots")
    blob, counts, dim = _stacked(payload)
    try:
        with _writer_lock(snaps) as locked:
            _publish(root, snaps, payload, blob, counts, dim, locked)
    except OSError as exc:
        if isinstance(exc, IndexWriteError):
            raise
        raise IndexWriteError(f"could not write the routing index to {shown}: {exc}") from exc
    log.info("saved routing index with %d adapters to %s", len(payload.names), root)
    return Path(folder)


def _publish(root: Path, snaps: Path, payload: IndexPayload, blob: bytes, counts: list[int], dim: int,
             locked: bool) -> None:
    prev = _peek_manifest(root / INDEX_META_FILE)
    prev_version = prev.get("version") if prev else None
    prev_snapshot = prev.get("snapshot") if prev and prev_version == 2 else None
    if not (isinstance(prev_snapshot, str) and _SNAPSHOT_RE.match(prev_snapshot)):
        prev_snapshot = None
    generations = [int(n.split("-")[0]) for n in os.listdir(snaps) if _SNAPSHOT_RE.match(n)]
    prev_gen = prev.get("generation") if prev else None
    if isinstance(prev_gen, int) and not isinstance(prev_gen, bool) and 0 < prev_gen < _MAX_GENERATION:
        generations.append(prev_gen)
    generation = max(generations, default=0) + 1
    name = f"{generation:06d}-{secrets.token_hex(4)}"
    snap = snaps / name
    meta = _manifest(payload, root, generation, name, blob, counts, dim)
    data = (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    tmp = root / f"{_TMP_PREFIX}{secrets.token_hex(8)}"
    published = False
    try:
        os.mkdir(snap)
        _write_new_file(snap / INDEX_CENTROIDS_FILE, blob)
        _fsync_dir(snap)
        _fsync_dir(snaps)
        _write_new_file(tmp, data)
        os.replace(tmp, root / INDEX_META_FILE)  # the one atomic step: readers now see the new snapshot
        published = True
        _fsync_dir(root)
    finally:
        if not published:
            with contextlib.suppress(OSError):
                tmp.unlink()
            shutil.rmtree(snap, ignore_errors=True)
    _cleanup(root, snaps, keep={name, prev_snapshot} - {None}, legacy_is_old=prev_version == 2, locked=locked)


def _cleanup(root: Path, snaps: Path, *, keep: set[Any], legacy_is_old: bool, locked: bool) -> None:
    """Remove old snapshots, crashed saves' leftovers and a superseded version-1 centroid file."""
    now = time.time()

    def stale(entry: os.DirEntry[str]) -> bool:
        if locked:
            return True
        try:
            return now - entry.stat(follow_symlinks=False).st_mtime > _UNLOCKED_GRACE_S
        except OSError:
            return False

    try:
        with os.scandir(snaps) as it:
            for entry in it:
                if entry.name in keep or not _SNAPSHOT_RE.match(entry.name) or not stale(entry):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
        with os.scandir(root) as it:
            for entry in it:
                if _TMP_RE.match(entry.name) and stale(entry):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
        legacy = root / INDEX_CENTROIDS_FILE
        if legacy_is_old and legacy.is_file() and _is_our_centroid_file(legacy):
            legacy.unlink()
    except OSError as exc:  # the save itself succeeded; leftovers go at the next one
        log.warning("could not clean up old snapshots in %s: %s", root, exc)


# ---------------------------------------------------------------------------------------------- loading
def _existing_root(folder: Any) -> Path:
    root = _fs_path(folder)
    shown = printable(root)
    if not root.exists():
        raise IndexNotFoundError(f"routing index folder {shown} does not exist; build one with `ariadne index build`")
    if not root.is_dir():
        raise IndexFormatError(f"{shown} is not a folder; a routing index is a folder with {INDEX_META_FILE} and its snapshots")
    return root


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _read_manifest(root: Path) -> tuple[bytes, IndexManifest, dict[str, Any]]:
    """Read ``index.json`` once and validate it: (raw bytes, model, the JSON object)."""
    path = root / INDEX_META_FILE
    shown = printable(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise IndexNotFoundError(
            f"{printable(root)} has no {INDEX_META_FILE}: it is not a routing index (or the save never finished)"
        ) from None
    except OSError as exc:
        raise IndexFormatError(f"cannot read {shown}: {exc}") from None
    try:
        meta = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise IndexFormatError(f"{shown} is corrupt or truncated (not UTF-8 at byte {exc.start}); rebuild the index") from None
    except RecursionError:
        raise IndexFormatError(f"{shown} is corrupt: its JSON nests too deeply; rebuild the index") from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, integers with too many digits
        raise IndexFormatError(f"{shown} is corrupt or truncated ({printable(exc)[:200]}); rebuild the index") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise IndexFormatError(f"{shown} is not an ARIADNE routing index (format {printable(repr(found), 80)})")
    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise IndexFormatError(f"{shown} has an invalid format version {printable(repr(version), 80)}")
    if version > FORMAT_VERSION:
        raise IndexFormatError(
            f"{shown} uses index format version {version}, newer than this package supports ({FORMAT_VERSION}); "
            "upgrade ariadne-integrations"
        )
    try:
        model = IndexManifest.model_validate(meta)
    except ValidationError as exc:
        raise IndexFormatError(f"{shown} is not a valid routing index: {_describe(exc)}; rebuild the index") from None
    if model.content_sha256 is not None:
        try:
            digest = content_digest(meta)
        except (ValueError, RecursionError):
            digest = ""
        if digest != model.content_sha256:
            raise IndexFormatError(
                f"{shown} does not match its content checksum: it was edited or is corrupt; rebuild the index "
                "(or save it again from a router)"
            )
    return raw, model, meta


def read_index_meta(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate ``index.json`` only (cheap: for `ariadne index info` and wrappers' checks)."""
    _, _, meta = _read_manifest(_existing_root(folder))
    return meta


def _centroids_path(root: Path, model: IndexManifest) -> Path:
    if model.snapshot is None:  # version 1
        return root / INDEX_CENTROIDS_FILE
    return root / SNAPSHOTS_DIR / model.snapshot / INDEX_CENTROIDS_FILE


def _manifest_changed(root: Path, raw: bytes) -> bool:
    try:
        return (root / INDEX_META_FILE).read_bytes() != raw
    except OSError:
        return True


def load_index(folder: str | os.PathLike[str]) -> IndexPayload:
    """Load one consistent snapshot of an index folder; raise IndexNotFoundError / IndexFormatError, never guess."""
    root = _existing_root(folder)
    for attempt in range(_READ_ATTEMPTS):
        raw, model, meta = _read_manifest(root)
        cpath = _centroids_path(root, model)
        shown = printable(cpath)
        try:
            blob = cpath.read_bytes()
        except FileNotFoundError:
            if _manifest_changed(root, raw):  # a save replaced the index meanwhile: read the new one
                time.sleep(0.001 * attempt)
                continue
            raise IndexNotFoundError(f"{shown} is missing: the index is incomplete; rebuild it") from None
        except OSError as exc:
            raise IndexFormatError(f"cannot read {shown}: {exc}") from None
        if hashlib.sha256(blob).hexdigest() != model.centroids_sha256:
            if _manifest_changed(root, raw):  # a version-1 folder being rewritten under us
                time.sleep(0.001 * attempt)
                continue
            raise IndexFormatError(
                f"{shown} does not match {INDEX_META_FILE} (checksum differs): corrupt, truncated or from another save"
            )
        return _payload(root, cpath, model, meta, blob)
    raise IndexFormatError(f"{printable(root)} changed {_READ_ATTEMPTS} times while being read; try again")


def _payload(root: Path, cpath: Path, model: IndexManifest, meta: dict[str, Any], blob: bytes) -> IndexPayload:
    from safetensors import SafetensorError
    from safetensors.numpy import load

    shown = printable(cpath)
    try:
        tensors = load(blob)
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise IndexFormatError(f"{shown} is not a readable safetensors file ({exc})") from None
    if set(tensors) != {"centroids", "offsets"}:
        raise IndexFormatError(f"{shown} holds tensors {sorted(tensors)}, expected 'centroids' and 'offsets'")
    cents, offsets = tensors["centroids"], tensors["offsets"]
    dim = model.embedder.dimension
    counts = [a.n_centroids for a in model.adapters]
    expect_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    if cents.dtype != np.float32 or cents.ndim != 2 or cents.shape != (int(expect_offsets[-1]), dim):
        raise IndexFormatError(f"{shown}: centroid matrix {cents.shape} {cents.dtype} does not match {INDEX_META_FILE} "
                               f"({int(expect_offsets[-1])}, {dim}) float32")
    if offsets.shape != expect_offsets.shape or not np.array_equal(offsets, expect_offsets):
        raise IndexFormatError(f"{shown}: offsets do not match the adapter list in {INDEX_META_FILE}")
    if not np.all(np.isfinite(cents)):
        raise IndexFormatError(f"{shown}: centroids contain NaN or infinite values")
    norms = np.linalg.norm(cents.astype(np.float64), axis=1)
    bad = np.flatnonzero(np.abs(norms - 1.0) > UNIT_NORM_TOLERANCE)
    if bad.size:
        row = int(bad[0])
        owner = model.adapters[int(np.searchsorted(expect_offsets, row, side="right")) - 1].name
        raise IndexFormatError(
            f"{shown}: centroid row {row} (adapter {owner!r}) has L2 norm {norms[row]:.6g}, not 1; centroids must be "
            "unit vectors (a zero or scaled row would score outside [-1, 1]); rebuild the index"
        )
    paths: list[str | None] = []
    for a in model.adapters:
        if a.adapter_path is None:
            paths.append(None)
        else:
            pp = Path(a.adapter_path)
            paths.append(str(pp if pp.is_absolute() else (root / pp).resolve()))
    return IndexPayload(
        embedder=model.embedder.model_dump(exclude_none=False),
        strategy=model.strategy.model_dump(),
        thresholds=model.thresholds.model_dump(exclude={"per_adapter"} if model.thresholds.per_adapter is None else None),
        names=[a.name for a in model.adapters],
        centroids=[cents[expect_offsets[i]: expect_offsets[i + 1]].copy() for i in range(len(model.adapters))],
        n_examples=[a.n_examples for a in model.adapters],
        adapter_paths=paths,
        extra=dict(model.extra),
        meta=meta,
    )
