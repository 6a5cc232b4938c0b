"""Where models run: the one device and dtype choice shared by the runtime and the embedder.

Why a top-level module: ``runtime`` and ``routing`` may not import each other, and both follow the same
choice (``device="auto"``: CUDA when available, else CPU). torch is imported inside the functions, so
importing this module stays light.

Device strings: ``"auto"`` (or None), ``"cpu"``, ``"cuda"`` (= ``"cuda:0"``), ``"cuda:N"``, ``"mps"``.
Dtype strings: ``"auto"`` (or None: bfloat16 on a CUDA GPU that supports it, else float16 there; float32 on
CPU and MPS), ``"float32"``/``"fp32"``, ``"bfloat16"``/``"bf16"``, ``"float16"``/``"fp16"``, or a ``torch.dtype``.
"""
from __future__ import annotations

import importlib.util
import re
from typing import Any

from ariadne_integrations.errors import InvalidInputError

__all__ = ["DEVICE_CHOICES", "DTYPE_CHOICES", "check_device", "check_dtype", "dtype_name", "resolve_device", "resolve_dtype"]

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
"""What ``device=`` accepts (for help texts and error messages)."""
DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16")
"""What ``dtype=`` accepts (``fp32``, ``bf16``, ``fp16`` are aliases)."""

_DTYPE_ALIASES = {
    "float32": "float32", "fp32": "float32", "f32": "float32", "float": "float32",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
    "float16": "float16", "fp16": "float16", "f16": "float16", "half": "float16",
}
_CUDA = re.compile(r"^cuda(?::(\d+))?$")


def _torch() -> Any:
    import torch

    return torch


def _cuda_count(torch: Any) -> int:
    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def _mps_available(torch: Any) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def check_device(device: Any) -> str:
    """``device`` as a lower-case string when it is spelled right (torch-free: nothing is asked of the machine).

    Wrappers and the CLI call this at construction, so a misspelt device fails at once, while whether the
    device is really there is asked (by :func:`resolve_device`) only when the model loads.
    """
    if device is None:
        return "auto"
    spec = str(device).strip().lower()
    if spec in ("auto", "cpu", "mps") or _CUDA.match(spec):
        return spec
    raise InvalidInputError(f"unknown device {device!r}; use one of {', '.join(DEVICE_CHOICES)}")


def check_dtype(dtype: Any) -> str:
    """``dtype``'s canonical name ("auto", "float32", "bfloat16", "float16") when spelled right (torch-free)."""
    if dtype is None:
        return "auto"
    spec = str(dtype).strip().lower().removeprefix("torch.")
    if spec == "auto":
        return spec
    name = _DTYPE_ALIASES.get(spec)
    if name is None:
        raise InvalidInputError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPE_CHOICES)} (or fp32, bf16, fp16)")
    return name


def resolve_device(device: str | None = "auto") -> str:
    """A concrete torch device string for ``device``: ``"cpu"``, ``"cuda:N"`` or ``"mps"``.

    ``"auto"`` (or None) is ``"cuda:0"`` when a CUDA GPU is visible, else ``"cpu"`` (MPS is never picked
    on its own: ask for ``"mps"``). A device that is not there raises InvalidInputError saying what to use.
    """
    spec = check_device(device)
    if spec == "cpu":
        return "cpu"
    if spec == "auto":
        if importlib.util.find_spec("torch") is None:
            return "cpu"
        return "cuda:0" if _cuda_count(_torch()) > 0 else "cpu"
    match = _CUDA.match(spec)
    if match:
        torch = _torch()
        n = _cuda_count(torch)
        if n == 0:
            build = getattr(torch.version, "cuda", None)
            why = "this torch is a CPU-only build" if build is None else f"torch (CUDA {build}) sees no GPU"
            raise InvalidInputError(
                f"device={device!r}: no CUDA GPU is available ({why}); use device='cpu' or 'auto', or install a CUDA "
                "build of torch (https://pytorch.org/get-started/locally/)"
            )
        index = int(match.group(1) or 0)
        if index >= n:
            raise InvalidInputError(f"device={device!r}: only {n} CUDA GPU(s) visible (cuda:0..cuda:{n - 1}); pick one of them")
        return f"cuda:{index}"
    if not _mps_available(_torch()):  # spec == "mps"
        raise InvalidInputError(f"device={device!r}: Apple's MPS backend is not available here; use device='cpu' or 'auto'")
    return "mps"


def resolve_dtype(dtype: Any, device: str) -> Any:
    """The ``torch.dtype`` to load weights in on ``device`` (a resolved device string).

    ``"auto"`` / None: bfloat16 on a CUDA GPU that supports it, else float16 there; float32 on CPU and MPS
    (today's CPU behaviour, exactly). bfloat16 asked on a CUDA GPU without it raises InvalidInputError.
    """
    torch = _torch()
    if isinstance(dtype, torch.dtype):
        return dtype
    name = check_dtype(dtype)
    on_cuda = device.startswith("cuda")
    if name == "auto":
        if not on_cuda:
            return torch.float32
        return torch.bfloat16 if _bf16_ok(torch, device) else torch.float16
    if name == "bfloat16" and on_cuda and not _bf16_ok(torch, device):
        raise InvalidInputError(f"dtype='bfloat16': the GPU {device} does not support it; use dtype='float16' or 'auto'")
    return getattr(torch, name)


def _bf16_ok(torch: Any, device: str) -> bool:
    try:
        with torch.cuda.device(device):
            return bool(torch.cuda.is_bf16_supported())
    except Exception:  # noqa: BLE001 - a mocked or odd set-up: ask without selecting the device
        return bool(torch.cuda.is_bf16_supported())


def dtype_name(dtype: Any) -> str:
    """``"float32"`` for ``torch.float32`` (for cache keys, logs and metadata)."""
    return str(dtype).removeprefix("torch.")
