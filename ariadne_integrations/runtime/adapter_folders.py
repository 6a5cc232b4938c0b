"""PEFT adapter folders: is it one, does it fit this backbone, and the name it gets inside peft.

Why check before peft sees the folder: peft reports a wrong folder or a LoRA for another base model
as a bare ``size mismatch`` deep in ``load_state_dict``, after it has half-injected the adapter.
These checks name the folder and what is wrong, and leave the shared model untouched.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ariadne_integrations.constants import PEFT_CONFIG_FILE, PEFT_WEIGHT_FILES
from ariadne_integrations.errors import AdapterLoadError

__all__ = ["check_adapter_folder", "check_adapter_shapes", "invalidate_adapter_folder", "peft_name"]

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


def invalidate_adapter_folder(path: str | os.PathLike[str]) -> None:
    """Unload whatever was loaded from ``path`` in any runtime (its files are about to change)."""
    # Imported here: model_pool imports this module (peft_name, check_adapter_shapes).
    from ariadne_integrations.runtime.model_pool import unload_everywhere

    unload_everywhere(peft_name(Path(path).expanduser().resolve()))
