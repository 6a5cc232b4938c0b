"""A faster mixed-adapter LoRA forward for one batched ``generate`` where rows use different adapters.

peft's ``_mixed_batch_forward`` loops over the adapters of the batch at every LoRA layer and every
decoding step (select the rows, two small matmuls, scatter back); on a small CPU backbone that loop
is a large share of each step. Here, for the duration of one call, every vanilla LoRA ``Linear`` gets
the per-row A and B (scaling folded in, ranks zero-padded, zeros for ``BASE_ADAPTER`` rows) gathered
once; each step then adds the LoRA term with two batched matmuls. Layers this cannot serve exactly
(DoRA and other variants, merged or fan-in-fan-out layers) keep peft's own path, as does any step
whose batch size differs from the plan (beam search, num_return_sequences).

peft private API this relies on (checked against peft 0.21): the private method
``peft.tuners.lora.layer.LoraLayer._mixed_batch_forward``, which ``peft.tuners.lora.layer.Linear.forward``
calls when ``adapter_names`` is given, is replaced per module instance for one call; the module-level
``peft.tuners.lora.layer.VARIANT_KWARG_KEYS`` is read. When an installed peft lacks either,
:func:`fast_mixed_batch` logs a warning once and patches nothing, so peft's own (slower) path answers.
"""
from __future__ import annotations

import contextlib
import logging
import types
from typing import Any, Iterator, Sequence

from ariadne_integrations.constants import BASE_ADAPTER

logger = logging.getLogger(__name__)

__all__ = ["fast_mixed_batch", "peft_supports_fast_mixed_batch"]

_PATCHED_METHOD = "_mixed_batch_forward"
_warned_unsupported = False


def peft_supports_fast_mixed_batch() -> bool:
    """Whether the installed peft has the private hooks :func:`fast_mixed_batch` replaces and reads."""
    try:
        from peft.tuners.lora import layer
    except ImportError:
        return False
    return callable(getattr(layer.Linear, _PATCHED_METHOD, None)) and hasattr(layer, "VARIANT_KWARG_KEYS")


def _plan_for(module: Any, names: Sequence[str]) -> tuple[Any, Any] | None:
    """(A [rows, in, r], B [rows, r, out]) for this layer, or None to keep peft's path."""
    import torch

    if getattr(module, "merged", False) or getattr(module, "fan_in_fan_out", False):
        return None
    used = [n for n in dict.fromkeys(names) if n != BASE_ADAPTER and n in module.lora_A]
    if any(n in getattr(module, "lora_variant", {}) for n in used):
        return None
    weight = module.get_base_layer().weight
    in_f, out_f = weight.shape[1], weight.shape[0]
    if not used:
        return None  # no row adapts this layer: peft adds nothing either
    r = max(module.lora_A[n].weight.shape[0] for n in used)
    dtype = module.lora_A[used[0]].weight.dtype
    device = weight.device
    zeros_a = torch.zeros(in_f, r, dtype=dtype, device=device)
    zeros_b = torch.zeros(r, out_f, dtype=dtype, device=device)
    per_a, per_b = {}, {}
    for n in used:
        a = module.lora_A[n].weight  # [r_n, in]
        b = module.lora_B[n].weight * module.scaling[n]  # [out, r_n]
        rn = a.shape[0]
        per_a[n] = torch.nn.functional.pad(a.t(), (0, r - rn)) if rn < r else a.t()
        per_b[n] = torch.nn.functional.pad(b.t(), (0, 0, 0, r - rn)) if rn < r else b.t()
    a_rows = torch.stack([per_a.get(n, zeros_a) for n in names]).contiguous()
    b_rows = torch.stack([per_b.get(n, zeros_b) for n in names]).contiguous()
    return a_rows, b_rows


def _fast_mixed_batch_forward(self: Any, x: Any, *args: Any, adapter_names: Sequence[str], **kwargs: Any) -> Any:
    a_rows, b_rows = self._ariadne_mixed_plan
    if x.shape[0] != a_rows.shape[0] or x.dim() not in (2, 3):
        return getattr(type(self), _PATCHED_METHOD)(self, x, *args, adapter_names=adapter_names, **kwargs)
    import torch
    from peft.tuners.lora.layer import VARIANT_KWARG_KEYS

    for key in VARIANT_KWARG_KEYS:
        kwargs.pop(key, None)
    result = self.base_layer(x, *args, **kwargs)
    h = x.to(a_rows.dtype)
    if h.dim() == 2:
        delta = torch.bmm(torch.bmm(h.unsqueeze(1), a_rows), b_rows).squeeze(1)
    else:
        delta = torch.bmm(torch.bmm(h, a_rows), b_rows)
    return result + delta.to(result.dtype)


@contextlib.contextmanager
def fast_mixed_batch(peft_model: Any, names: Sequence[str]) -> Iterator[int]:
    """Within this block, LoRA layers of ``peft_model`` serve ``adapter_names=names`` the fast way.

    The caller must hold the model's lock (the plan is per-module state). Yields how many layers
    use the fast path (0 when the installed peft lacks the private hooks: peft's own path then runs).
    Adapters used by a single row set, or one adapter only, gain little: the caller may skip this for those.
    """
    global _warned_unsupported
    if not peft_supports_fast_mixed_batch():
        if not _warned_unsupported:
            import peft

            logger.warning(
                "peft %s has no peft.tuners.lora.layer.Linear.%s or VARIANT_KWARG_KEYS (private peft API, "
                "tested with peft 0.21): mixed-adapter batches use peft's own slower path",
                getattr(peft, "__version__", "?"), _PATCHED_METHOD)
            _warned_unsupported = True
        yield 0
        return
    from peft.tuners.lora.layer import Linear as LoraLinear

    patched = []
    try:
        for module in peft_model.modules():
            if not isinstance(module, LoraLinear):
                continue
            plan = _plan_for(module, names)
            if plan is None:
                continue
            setattr(module, "_ariadne_mixed_plan", plan)  # noqa: B010 - a torch Module attribute
            setattr(module, _PATCHED_METHOD, types.MethodType(_fast_mixed_batch_forward, module))
            patched.append(module)
        yield len(patched)
    finally:
        for module in patched:
            module.__dict__.pop(_PATCHED_METHOD, None)
            module.__dict__.pop("_ariadne_mixed_plan", None)
