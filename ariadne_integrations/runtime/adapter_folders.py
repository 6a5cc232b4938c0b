"""PEFT adapter folders: is it one, does it fit this backbone, and the name it gets inside peft.

Why check before peft sees the folder: peft reports a wrong folder or a LoRA for another base model
as a bare ``size mismatch`` deep in ``load_state_dict``, after it has half-injected the adapter.
These checks name the folder and what is wrong, and leave the shared model untouched.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from ariadne_integrations.constants import PEFT_CONFIG_FILE, PEFT_WEIGHT_FILES
from ariadne_integrations.errors import AdapterLoadError

__all__ = ["check_adapter_base_model", "check_adapter_folder", "check_adapter_shapes", "check_adapter_weights",
           "invalidate_adapter_folder", "peft_name"]

_PEFT_KEY_PREFIX = "base_model.model."  # how peft prefixes module paths in saved adapter weights


def peft_name(folder: Path) -> str:
    """The adapter's name inside peft, derived from its resolved folder.

    Why from the folder and not the user's name: every runtime over one backbone shares one
    PeftModel, so two runtimes that register the same folder under different names share its
    weights, and two different folders never collide.
    """
    return "a" + hashlib.sha1(str(folder).encode()).hexdigest()[:16]


def check_adapter_folder(path: str | os.PathLike[str]) -> Path:
    """A folder with adapter_config.json and adapter weights (resolved), or AdapterLoadError saying what is wrong."""
    p = Path(path).expanduser()
    if not p.is_dir():
        raise AdapterLoadError(f"adapter folder {p} does not exist; train one with `ariadne train` or give a PEFT adapter folder")
    cfg = p / PEFT_CONFIG_FILE
    if not cfg.is_file():
        raise AdapterLoadError(f"{p} is not a PEFT adapter folder (no {PEFT_CONFIG_FILE})")
    try:
        json.loads(cfg.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AdapterLoadError(f"{cfg} is not valid JSON ({exc}); re-save the adapter") from None
    if not any((p / f).is_file() for f in PEFT_WEIGHT_FILES):
        raise AdapterLoadError(f"{p} has no {' / '.join(PEFT_WEIGHT_FILES)}")
    return p.resolve()


def check_adapter_shapes(base_model: Any, folder: Path) -> None:
    """Compare the adapter's LoRA shapes with the backbone's layers before touching the model.

    Only safetensors weights are checked (their shapes can be read without loading the tensors);
    a ``.bin`` adapter is left to peft's own error.
    """
    f = folder / PEFT_WEIGHT_FILES[0]
    if not f.is_file():
        return
    from safetensors import safe_open

    modules = dict(base_model.named_modules())
    try:
        with safe_open(str(f), framework="pt") as fh:
            shapes = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
    except Exception as exc:  # noqa: BLE001 - any failure to read means a corrupt or truncated file
        raise AdapterLoadError(f"{f} cannot be read ({exc}); re-save the adapter") from None
    for key, shape in shapes.items():
        for part in (".lora_A.", ".lora_B."):
            if part not in key:
                continue
            mod_path = key.split(part)[0].removeprefix(_PEFT_KEY_PREFIX)
            mod = modules.get(mod_path)
            if mod is None:
                raise AdapterLoadError(
                    f"adapter {folder} targets layer {mod_path!r}, which this backbone does not have: "
                    "it was trained for a different base model"
                )
            in_f = getattr(mod, "in_features", None)
            out_f = getattr(mod, "out_features", None)
            if part == ".lora_A." and in_f is not None and len(shape) == 2 and shape[1] != in_f:
                raise AdapterLoadError(
                    f"adapter {folder}: {mod_path} expects input size {shape[1]} but the backbone has {in_f}: "
                    "it was trained for a different base model"
                )
            if part == ".lora_B." and out_f is not None and len(shape) == 2 and shape[0] != out_f:
                raise AdapterLoadError(
                    f"adapter {folder}: {mod_path} has output size {shape[0]} but the backbone has {out_f}: "
                    "it was trained for a different base model"
                )


def _model_key(name: str) -> str:
    """A model's name without its folder, case, or the cache's ``-<12 hex>`` suffix (hub id and converted
    cache folder of one model compare equal)."""
    base = str(name).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].lower()
    return re.sub(r"-[0-9a-f]{12}$", "", base)


def _hub_like(name: str) -> bool:
    """A hub id, or the package's converted cache folder of one (``<model>-<12 hex>``): a name that says
    which model it is. A user's own folder says nothing about the model it holds."""
    if re.search(r"-[0-9a-f]{12}$", name.rstrip("/\\")):
        return True
    return not name.startswith((".", "/", "~", "\\")) and not Path(name).expanduser().exists()


def check_adapter_base_model(folder: Path, backbone_name: str) -> None:
    """Refuse an adapter whose config names another base model than the backbone.

    Why: a LoRA for a sibling model with the same shapes (SmolLM2-135M on the -Instruct backbone) loads
    fine and answers plausibly but wrong. Compared by model name (last path part, case-insensitive, the
    cache suffix dropped), and only when both names identify a model (a hub id or the converted default):
    a backbone or base model given as the user's own folder, or a config without
    ``base_model_name_or_path``, is not checked.
    """
    try:
        cfg = json.loads((folder / PEFT_CONFIG_FILE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AdapterLoadError(f"{folder / PEFT_CONFIG_FILE} cannot be read ({exc}); re-save the adapter") from None
    named = cfg.get("base_model_name_or_path") if isinstance(cfg, dict) else None
    if not isinstance(named, str) or not named.strip() or not _hub_like(named) or not _hub_like(backbone_name):
        return
    if _model_key(named) != _model_key(backbone_name):
        raise AdapterLoadError(
            f"adapter {folder} was trained for base model {named!r}, but the backbone is {backbone_name!r}: "
            "load it on that base model; if both are the same model under another name, set "
            f"base_model_name_or_path in its {PEFT_CONFIG_FILE}"
        )


def check_adapter_weights(folder: Path) -> None:
    """Refuse adapter weights that hold no LoRA tensors, or NaN / infinite values.

    Why: peft loads both without complaint; the first answers exactly like the bare backbone, the
    second with empty or garbage text. Only safetensors weights are read (LoRA tensors are small).
    """
    f = folder / PEFT_WEIGHT_FILES[0]
    if not f.is_file():
        return
    import torch
    from safetensors import safe_open

    try:
        with safe_open(str(f), framework="pt") as fh:
            keys = [k for k in fh.keys() if ".lora_" in k]
            if not keys:
                raise AdapterLoadError(f"{f} holds no LoRA tensors (no lora_A / lora_B weights); it is not a LoRA adapter "
                                       "or it was saved empty: re-train or re-save it")
            for k in keys:
                t = fh.get_tensor(k)
                if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                    raise AdapterLoadError(f"{f}: tensor {k} holds NaN or infinite values (training diverged?); "
                                           "re-train the adapter")
    except AdapterLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to read means a corrupt or truncated file
        raise AdapterLoadError(f"{f} cannot be read ({exc}); re-save the adapter") from None


def invalidate_adapter_folder(path: str | os.PathLike[str]) -> None:
    """Unload whatever was loaded from ``path`` in any runtime (its files are about to change)."""
    # Imported here: model_pool imports this module (peft_name, check_adapter_shapes).
    from ariadne_integrations.runtime.model_pool import unload_everywhere

    unload_everywhere(peft_name(Path(path).expanduser().resolve()))
