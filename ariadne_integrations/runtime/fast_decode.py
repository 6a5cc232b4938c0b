"""A decode loop for Llama-family backbones whose cost is close to the matrix products.

Why not ``transformers.generate``: on a small backbone on a CPU, about three quarters of every decoding
step under ``generate`` + peft is overhead around the products (the generate loop, a growing KV cache
re-allocated each step, one peft wrapper per LoRA layer, Python). This loop keeps what costs:

- a static KV cache, allocated once per call (``[layers, rows, kv_heads, prompt + new tokens, head_dim]``);
- q/k/v and gate/up projections fused into one product each (weights laid out once per backbone);
- the LoRA delta of each fused projection as two products, for mixed-adapter batches too: the adapters' A and B
  concatenated once per call (scaling folded in) and a per-row mask keeping each row's own columns;
- SDPA attention over the cache, rotary cos/sin for every step computed up front, logits for the last position only.

Greedy answers equal ``generate``'s on the demo prompts and the demo pool's test sets (tested); sampling,
repetition penalty, stop strings, grammars (any ``LogitsProcessor``) and streamers use transformers' own
classes, so they behave as under ``generate``. Models or adapters it cannot serve exactly (another
architecture, attention or MLP biases, DoRA and other LoRA variants, LoRA on embeddings or the LM head,
beam search) and backbones on a GPU (where ``generate`` is what ``scripts/check_gpu.py`` has checked) keep
``generate``: :meth:`FastDecoder.supports` and :func:`lora_plan` say why.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ariadne_integrations.constants import BASE_ADAPTER
from ariadne_integrations.errors import InvalidInputError

logger = logging.getLogger(__name__)

__all__ = ["AdapterProducts", "FastDecoder", "LoraPlan", "adapter_products", "decode_like_generate", "lora_plan",
           "lora_unsupported"]

_ATTN = ("q_proj", "k_proj", "v_proj", "o_proj")
_MLP = ("gate_proj", "up_proj", "down_proj")
# Fused groups: (sub-module, projections) whose outputs are concatenated into one product.
_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("self_attn", ("q_proj", "k_proj", "v_proj")),
    ("self_attn", ("o_proj",)),
    ("mlp", ("gate_proj", "up_proj")),
    ("mlp", ("down_proj",)),
)


def _base_linear(module: Any) -> Any:
    """The plain ``nn.Linear`` under a peft LoRA wrapper (or the module itself)."""
    return getattr(module, "base_layer", module)


@dataclass
class _Layer:
    weights: list[Any]  # one fused [out, in] weight per group of _GROUPS
    in_norm: Any
    post_norm: Any
    split_qkv: tuple[int, int, int]
    split_gu: tuple[int, int]


# One (A [in, R], B [R, out], row mask [rows, 1, R] or None) per group per layer, or None when no row's adapter
# touches that group. For a fused group, A concatenates the projections' A along R and B is block-diagonal; for a
# mixed batch, the adapters' A and B are concatenated too and the mask keeps each row's own columns. So the delta
# of a group is always two products: ((x @ A) * mask) @ B.
LoraPlan = list[list[tuple[Any, Any, Any] | None]]


def lora_unsupported(model: Any, names: Sequence[str]) -> str | None:
    """Why this loop can't serve peft adapters ``names`` on ``model`` (None when it can).

    It walks every module once; the answer depends only on the adapters loaded, so
    :class:`~ariadne_integrations.runtime.model_pool.SharedModel` caches it per adapter set.
    """
    from peft.tuners.lora.layer import LoraLayer

    used = [n for n in dict.fromkeys(names) if n != BASE_ADAPTER]
    allowed = {id(getattr(getattr(layer, sub), proj))
               for layer in model.model.layers for sub, projs in _GROUPS for proj in projs}
    for qual, module in model.named_modules():
        if isinstance(module, LoraLayer) and any(n in getattr(module, "lora_A", {}) for n in used):
            if id(module) not in allowed:
                return f"an adapter adapts {qual}, which the fast loop does not (only q/k/v/o and the MLP)"
            if getattr(module, "merged", False) or getattr(module, "fan_in_fan_out", False):
                return f"{qual} is merged or fan-in-fan-out"
            if any(n in getattr(module, "lora_variant", {}) for n in used):
                return f"{qual} uses a LoRA variant (e.g. DoRA)"
            if any(n in getattr(module, "lora_embedding_A", {}) for n in used):
                return f"{qual} has an embedding LoRA"
    return None


# One adapter's products: per layer, per group of _GROUPS, (A [in, r], B [r, out]) or None when it skips the group.
AdapterProducts = list[list[tuple[Any, Any] | None]]


def adapter_products(model: Any, name: str) -> AdapterProducts:
    """Adapter ``name``'s LoRA weights laid out per fused group: A's of the group's projections side by side,
    B block-diagonal, scaling folded into B (built once per adapter and cached by ``SharedModel``)."""
    import torch
    from peft.tuners.lora.layer import LoraLayer

    out_rows: AdapterProducts = []
    with torch.no_grad():
        for layer in model.model.layers:
            row: list[tuple[Any, Any] | None] = []
            for sub, projs in _GROUPS:
                mods: list[Any] = [getattr(getattr(layer, sub), p) for p in projs]
                parts: list[Any] = [(m.lora_A[name].weight, m.lora_B[name].weight * m.scaling[name])
                                    if isinstance(m, LoraLayer) and name in m.lora_A else None for m in mods]
                if all(p is None for p in parts):
                    row.append(None)
                    continue
                outs = [int(_base_linear(m).weight.shape[0]) for m in mods]
                in_f = int(_base_linear(mods[0]).weight.shape[1])
                ref: Any = next(p for p in parts if p is not None)[0]
                ranks = [int(p[0].shape[0]) if p is not None else 0 for p in parts]
                a = torch.zeros(in_f, sum(ranks), dtype=ref.dtype, device=ref.device)
                b = torch.zeros(sum(ranks), sum(outs), dtype=ref.dtype, device=ref.device)
                r0 = o0 = 0
                for p, r, o in zip(parts, ranks, outs):
                    if p is not None:
                        a[:, r0:r0 + r] = p[0].t()
                        b[r0:r0 + r, o0:o0 + o] = p[1].t()
                    r0, o0 = r0 + r, o0 + o
                row.append((a, b))
            out_rows.append(row)
    return out_rows


def lora_plan(model: Any, names: Sequence[str], *, products: Callable[[str], AdapterProducts] | None = None,
              unsupported: str | bool | None = False) -> LoraPlan | str:
    """The per-layer LoRA products for peft adapter ``names`` (one per row), or why this loop can't serve them.

    ``model`` is the LoRA-injected transformers model. Rows named ``BASE_ADAPTER`` get zeros (mixed batches).
    ``products`` (name -> :func:`adapter_products`) and ``unsupported`` (a cached :func:`lora_unsupported`
    answer) let a caller reuse what does not change between calls; by default both are computed here.
    """
    reason = lora_unsupported(model, names) if unsupported is False else unsupported
    if reason:
        return str(reason)
    used = [n for n in dict.fromkeys(names) if n != BASE_ADAPTER]
    per_adapter = {n: (products or (lambda m: adapter_products(model, m)))(n) for n in used}
    uniform = len(set(names)) == 1
    plan: LoraPlan = []
    for i in range(len(model.model.layers)):
        row: list[tuple[Any, Any, Any] | None] = []
        for g in range(len(_GROUPS)):
            per_name = {n: ab for n in used if (ab := per_adapter[n][i][g]) is not None}
            if not per_name:
                row.append(None)
            elif uniform:
                row.append((*per_name[names[0]], None))
            else:
                row.append(_concat_adapters(per_name, names))
        plan.append(row)
    return plan


def _concat_adapters(per_name: dict[str, tuple[Any, Any]], names: Sequence[str]) -> tuple[Any, Any, Any]:
    """All adapters' A side by side ([in, R]), their B stacked ([R, out]) and a [rows, R] 0/1 mask that keeps,
    for each row, only its adapter's columns (none for BASE_ADAPTER rows and adapters that skip this group).

    Why: a mixed batch then costs two ordinary products per group, whatever the number of rows, instead of a
    batch of tiny per-row products; the masked columns add exact zeros.
    """
    import torch

    order = list(per_name)
    a = torch.cat([per_name[n][0] for n in order], dim=1)
    b = torch.cat([per_name[n][1] for n in order], dim=0)
    spans, start = {}, 0
    for n in order:
        width = per_name[n][0].shape[1]
        spans[n] = (start, start + width)
        start += width
    mask = torch.zeros(len(names), a.shape[1], dtype=a.dtype, device=a.device)
    for row, n in enumerate(names):
        if n in spans:
            mask[row, spans[n][0]:spans[n][1]] = 1
    return a, b, mask[:, None, :]


class FastDecoder:
    """Greedy or sampled decoding of a batch of left-padded prompts (see the module docstring)."""

    def __init__(self, model: Any) -> None:
        import torch

        reason = self.supports(model)
        if reason:
            raise InvalidInputError(f"FastDecoder cannot serve this model: {reason}; decode it with generate "
                                    "(AdapterRuntime(fast_decode=False) or the default, which falls back by itself)")
        cfg = model.config
        self.model = model
        self.config = cfg
        self.n_heads = cfg.num_attention_heads
        self.n_kv = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        from transformers.activations import ACT2FN

        self.act = ACT2FN[cfg.hidden_act]
        self.layers: list[_Layer] = []
        with torch.no_grad():
            for layer in model.model.layers:
                weights = [torch.cat([_base_linear(getattr(getattr(layer, sub), p)).weight for p in projs]).contiguous()
                           if len(projs) > 1 else _base_linear(getattr(getattr(layer, sub), projs[0])).weight
                           for sub, projs in _GROUPS]
                q = self.n_heads * self.head_dim
                kv = self.n_kv * self.head_dim
                inter = _base_linear(layer.mlp.gate_proj).weight.shape[0]
                self.layers.append(_Layer(weights, layer.input_layernorm, layer.post_attention_layernorm,
                                          (q, kv, kv), (inter, inter)))

    @staticmethod
    def supports(model: Any) -> str | None:
        """None when this loop serves ``model`` exactly, else why not (then ``generate`` answers)."""
        cfg = getattr(model, "config", None)
        if cfg is None or getattr(cfg, "model_type", None) != "llama":
            return f"model type {getattr(cfg, 'model_type', None)!r} (the fast loop serves Llama-family models)"
        if getattr(cfg, "attention_bias", False) or getattr(cfg, "mlp_bias", False):
            return "attention or MLP biases"
        if getattr(cfg, "pretraining_tp", 1) not in (1, None):
            return "pretraining_tp > 1"
        if getattr(model, "is_quantized", False) or getattr(model, "hf_quantizer", None) is not None:
            return "a quantised model"
        inner = getattr(model, "model", None)
        if inner is None or not hasattr(inner, "layers") or not hasattr(model, "lm_head"):
            return "no model.layers / lm_head"
        if hasattr(_base_linear(model.lm_head), "lora_A") or hasattr(model.lm_head, "lora_A"):
            return "LoRA on the LM head"
        device = model.lm_head.weight.device.type if hasattr(model.lm_head, "weight") else "cpu"
        if device != "cpu":
            # Measured and tested on CPUs; on a GPU, generate is what scripts/check_gpu.py has checked.
            return f"the backbone is on {device} (the fast loop serves CPU backbones)"
        return None

    # ------------------------------------------------------------------ the forward
    @staticmethod
    def _lora(x: Any, out: Any, abm: tuple[Any, Any, Any] | None) -> Any:
        if abm is None:
            return out
        a, b, mask = abm
        u = x.to(a.dtype) @ a
        if mask is not None:
            u = u * mask
        return out + (u @ b).to(out.dtype)

    @staticmethod
    def _rope(x: Any, cos: Any, sin: Any) -> Any:
        import torch

        half = x.shape[-1] // 2
        rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos + rotated * sin

    def _forward(self, ids: Any, cos: Any, sin: Any, ks: Any, vs: Any, start: int, mask: Any,
                 plan: LoraPlan | None) -> Any:
        """Logits of the last position; writes the new keys/values at ``start``.. of the caches."""
        import torch.nn.functional as F

        model = self.model
        bsz, length = ids.shape
        h = model.model.embed_tokens(ids)
        end = start + length
        for i, lw in enumerate(self.layers):
            lp = plan[i] if plan is not None else (None, None, None, None)
            x = lw.in_norm(h)
            qkv = self._lora(x, F.linear(x, lw.weights[0]), lp[0])
            q, k, v = qkv.split(lw.split_qkv, dim=-1)
            q = self._rope(q.view(bsz, length, self.n_heads, self.head_dim).transpose(1, 2), cos, sin)
            k = self._rope(k.view(bsz, length, self.n_kv, self.head_dim).transpose(1, 2), cos, sin)
            ks[i][:, :, start:end] = k
            vs[i][:, :, start:end] = v.view(bsz, length, self.n_kv, self.head_dim).transpose(1, 2)
            att = F.scaled_dot_product_attention(q, ks[i][:, :, :end], vs[i][:, :, :end], attn_mask=mask,
                                                 enable_gqa=self.n_kv != self.n_heads)
            att = att.transpose(1, 2).reshape(bsz, length, self.n_heads * self.head_dim)
            h = h + self._lora(att, F.linear(att, lw.weights[1]), lp[1])
            x = lw.post_norm(h)
            gu = self._lora(x, F.linear(x, lw.weights[2]), lp[2])
            g, u = gu.split(lw.split_gu, dim=-1)
            m = self.act(g) * u
            h = h + self._lora(m, F.linear(m, lw.weights[3]), lp[3])
        last = model.model.norm(h[:, -1:])
        return model.lm_head(last)[:, -1]

    # ------------------------------------------------------------------ the loop
    def generate(self, input_ids: Any, attention_mask: Any, *, max_new_tokens: int, eos_token_ids: Sequence[int],
                 pad_token_id: int, plan: LoraPlan | None = None, do_sample: bool = False,
                 logits_processor: Any = None, stopping: Any = None, streamer: Any = None) -> Any:
        """``input_ids`` followed by the new tokens, as ``generate`` returns them (finished rows padded)."""
        import torch

        device = input_ids.device
        dtype = self.model.model.embed_tokens.weight.dtype
        bsz, length = input_ids.shape
        total = length + max_new_tokens
        ks = torch.empty(len(self.layers), bsz, self.n_kv, total, self.head_dim, dtype=dtype, device=device)
        vs = torch.empty_like(ks)
        key_ok = torch.zeros(bsz, total, dtype=torch.bool, device=device)
        key_ok[:, :length] = attention_mask.bool()
        # Positions as generate counts them: left padding does not advance the position.
        pos = attention_mask.long().cumsum(-1) - 1
        pos = pos.masked_fill(attention_mask == 0, 1)
        steps = pos[:, -1:] + torch.arange(1, max_new_tokens + 1, device=device)
        cos, sin = self.model.model.rotary_emb(self.model.model.embed_tokens.weight[:1], torch.cat([pos, steps], 1))
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)  # [rows, 1, positions, head_dim]
        causal = torch.ones(length, length, dtype=torch.bool, device=device).tril()
        prefill_mask = (causal & key_ok[:, None, None, :length]) | torch.eye(length, dtype=torch.bool, device=device)
        eos = torch.tensor(list(eos_token_ids), device=device)
        unfinished = torch.ones(bsz, dtype=torch.bool, device=device)
        seqs = torch.empty(bsz, total, dtype=torch.long, device=device)
        seqs[:, :length] = input_ids
        if streamer is not None:
            streamer.put(input_ids.cpu())
        logits = self._forward(input_ids, cos[:, :, :length], sin[:, :, :length], ks, vs, 0, prefill_mask, plan)
        cur = length
        while True:
            scores = logits.float()
            if logits_processor:
                scores = logits_processor(seqs[:, :cur], scores)
            if do_sample:
                nxt = torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1).squeeze(1)
            else:
                nxt = scores.argmax(dim=-1)
            nxt = torch.where(unfinished, nxt, torch.full_like(nxt, pad_token_id))
            seqs[:, cur] = nxt
            cur += 1
            if streamer is not None:
                streamer.put(nxt.cpu())
            unfinished &= ~torch.isin(nxt, eos)
            if stopping is not None:
                unfinished &= ~stopping(seqs[:, :cur], scores)
            if cur == total or not bool(unfinished.any()):
                break
            key_ok[:, cur - 1] = True
            logits = self._forward(nxt[:, None], cos[:, :, cur - 1:cur], sin[:, :, cur - 1:cur], ks, vs, cur - 1,
                                   key_ok[:, None, None, :cur], plan)
        if streamer is not None:
            streamer.end()
        return seqs[:, :cur]


def decode_like_generate(decoder: FastDecoder, batch: Any, plan: LoraPlan | None, kw: dict[str, Any], tokenizer: Any,
                         generation_config: Any) -> Any:
    """``decoder.generate`` for the keyword arguments the runtime would pass to ``model.generate``.

    The logits processors are transformers' own, in generate's order: penalties, ``min_new_tokens`` (read from
    the model's generation config, as generate does), the caller's processors (grammars), then the sampling
    warpers; stop strings use transformers' ``StopStringCriteria``.
    """
    from transformers import (
        LogitsProcessorList,
        MinNewTokensLengthLogitsProcessor,
        RepetitionPenaltyLogitsProcessor,
        StopStringCriteria,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    eos = tokenizer.eos_token_id if generation_config.eos_token_id is None else generation_config.eos_token_id
    eos_ids = [eos] if isinstance(eos, int) else list(eos)
    procs = LogitsProcessorList()
    if kw.get("repetition_penalty") is not None:
        procs.append(RepetitionPenaltyLogitsProcessor(kw["repetition_penalty"]))
    if generation_config.min_new_tokens:
        procs.append(MinNewTokensLengthLogitsProcessor(batch["input_ids"].shape[1], generation_config.min_new_tokens,
                                                       eos_ids))
    procs.extend(kw.get("logits_processor") or [])
    if kw["do_sample"]:
        if kw.get("temperature") not in (None, 1.0):
            procs.append(TemperatureLogitsWarper(kw["temperature"]))
        if kw.get("top_k"):
            procs.append(TopKLogitsWarper(kw["top_k"]))
        if kw.get("top_p") not in (None, 1.0):
            procs.append(TopPLogitsWarper(kw["top_p"]))
    stopping = StopStringCriteria(tokenizer, kw["stop_strings"]) if kw.get("stop_strings") else None
    return decoder.generate(
        batch["input_ids"], batch["attention_mask"], max_new_tokens=kw["max_new_tokens"], eos_token_ids=eos_ids,
        pad_token_id=kw["pad_token_id"], plan=plan, do_sample=kw["do_sample"], logits_processor=procs,
        stopping=stopping, streamer=kw.get("streamer"))
