"""Train a LoRA adapter for one task (CPU, or a GPU with ``device=``), scored on held-out examples before and after.

The adapter folder also receives ``ariadne_task.json`` (what was trained, how, and its scores) and
``ariadne_inputs.jsonl`` (the training inputs), so ``ariadne index build --adapter DIR`` can index
the adapter with exactly the data it learned from: training and routing fit together.
"""
from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ariadne_integrations.constants import ADAPTER_INPUTS_FILE, ADAPTER_TASK_FILE, DEFAULT_BACKBONE_ID
from ariadne_integrations.devices import dtype_name, resolve_device, resolve_dtype
from ariadne_integrations.errors import InvalidInputError
from ariadne_integrations.hf_progress import quiet_peft_wrap
from ariadne_integrations.jsonl import read_jsonl
from ariadne_integrations.runtime.adapter_folders import invalidate_adapter_folder

logger = logging.getLogger(__name__)

DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass
class TrainingReport:
    """What ``train_lora`` did: sizes, loss curve, and exact match before (base) and after (adapter)."""

    task: str
    out_dir: str
    n_train: int
    n_eval: int
    steps: int
    seconds: float
    score_before: float | None
    score_after: float | None
    metric: str = "exact_match"
    losses: list[float] = field(default_factory=list)
    hyperparameters: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalize_answer(text: str) -> str:
    """Exact-match normalisation: trimmed, lower case, single spaces, no trailing full stop."""
    return " ".join(text.strip().lower().split()).rstrip(".")


def exact_match(predictions: Sequence[str], targets: Sequence[str]) -> float:
    if not targets:
        return float("nan")
    return sum(normalize_answer(p) == normalize_answer(t) for p, t in zip(predictions, targets)) / len(targets)


def _split(rows: list[tuple[str, str]], fraction: float, seed: int) -> tuple[list, list]:
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    n_eval = max(1, int(round(len(rows) * fraction))) if fraction > 0 else 0
    if len(rows) - n_eval < 1:
        raise InvalidInputError(f"only {len(rows)} examples: too few to hold out {n_eval} for scoring; give more data or eval_fraction=0")
    return rows[n_eval:], rows[:n_eval]


def _encode_example(tok: Any, prompt: str, target: str, max_length: int, chat: bool) -> tuple[list[int], list[int]]:
    if chat:
        ptxt = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
    else:
        ptxt = prompt
    p_ids = tok(ptxt, add_special_tokens=False)["input_ids"]
    t_ids = tok(target, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    t_ids = t_ids[:max_length // 2]
    p_ids = p_ids[-(max_length - len(t_ids)):]
    return p_ids + t_ids, [-100] * len(p_ids) + t_ids


def score_adapter(
    backbone: Any, adapter_dir: str | os.PathLike[str] | None, inputs: Sequence[str], targets: Sequence[str],
    *, max_new_tokens: int = 32, batch_size: int = 16,
) -> tuple[float, list[str]]:
    """Exact match of greedy answers, with the adapter (or the bare backbone when adapter_dir is None)."""
    from ariadne_integrations.runtime.adapters import AdapterRuntime
    from ariadne_integrations.runtime.generation import GenerationConfig

    rt = AdapterRuntime(backbone, {"_scored": adapter_dir} if adapter_dir is not None else None, max_loaded_adapters=1)
    cfg = GenerationConfig(max_new_tokens=max_new_tokens)
    preds: list[str] = []
    name = "_scored" if adapter_dir is not None else None
    for i in range(0, len(inputs), batch_size):
        chunk = list(inputs[i:i + batch_size])
        preds += [r.text for r in rt.generate(chunk, [name] * len(chunk), cfg)]
    if adapter_dir is not None:
        rt.unload_adapter("_scored")
    return exact_match(preds, targets), preds


def _atomic_move_dir(src: Path, dst: Path) -> None:
    """Put ``src`` at ``dst``; an existing ``dst`` is kept until the new one is in place."""
    backup = None
    if dst.exists():
        backup = dst.with_name(dst.name + f".old-{os.getpid()}")
        os.rename(dst, backup)
    try:
        os.rename(src, dst)
    except OSError:
        if backup is not None:
            os.rename(backup, dst)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def train_lora(
    data: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    backbone: str | os.PathLike[str] | None = None,
    task_name: str | None = None,
    input_field: str = "input",
    target_field: str = "target",
    eval_data: str | os.PathLike[str] | None = None,
    eval_fraction: float = 0.15,
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.0,
    target_modules: Sequence[str] = DEFAULT_TARGET_MODULES,
    epochs: float = 3.0,
    lr: float = 2e-3,
    batch_size: int = 8,
    max_length: int = 192,
    max_steps: int | None = None,
    seed: int = 0,
    max_new_tokens: int = 32,
    score: bool = True,
    show_progress: bool = True,
    device: str | None = "auto",
    dtype: Any = None,
) -> TrainingReport:
    """Train a LoRA adapter on ``data`` (JSONL with input/target) and save it to ``out_dir``.

    Loss is on the target tokens only, after the chat-templated prompt, so the adapter learns the
    answer format. A fresh copy of the backbone is trained: the process-wide cached backbone used
    for inference is never modified. The previous ``out_dir`` survives a failed run.

    ``device`` ("auto": CUDA when available, else CPU; "cpu", "cuda", "cuda:N", "mps") and ``dtype`` (None /
    "auto": bfloat16 or float16 on a GPU, float32 on CPU and MPS) say where the backbone trains; the LoRA
    weights themselves stay float32 (peft's default). Train on the backbone the adapter will be served with.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from tqdm.auto import tqdm

    from ariadne_integrations.runtime.backbone import load_backbone

    t0 = time.perf_counter()
    where = resolve_device(device)
    weights_dtype = resolve_dtype(dtype, where)
    if r < 1 or alpha < 1 or epochs <= 0 or lr <= 0 or batch_size < 1:
        raise InvalidInputError("r, alpha, epochs, lr and batch_size must all be positive")
    rows = read_jsonl(data, text_field=input_field, label_field=target_field)
    if eval_data is not None:
        train_rows = list(rows)
        eval_rows = list(read_jsonl(eval_data, text_field=input_field, label_field=target_field))
    else:
        train_rows, eval_rows = _split(list(rows), eval_fraction, seed) if score else (list(rows), [])
    out = Path(out_dir).expanduser()
    task = task_name or out.name
    if not task.strip():
        raise InvalidInputError("task name is empty; pass task_name=...")

    torch.manual_seed(seed)
    bb = load_backbone(backbone, fresh=True, device=where, dtype=weights_dtype)
    tok = bb.tokenizer
    chat = bb.has_chat_template
    lcfg = LoraConfig(task_type="CAUSAL_LM", r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(target_modules))
    try:
        with quiet_peft_wrap():
            model = get_peft_model(bb.model, lcfg)
    except ValueError as exc:
        raise InvalidInputError(f"LoRA target modules {list(target_modules)} do not fit this backbone: {exc}") from exc
    model.train()

    examples = [_encode_example(tok, x, y, max_length, chat) for x, y in train_rows]
    steps_per_epoch = math.ceil(len(examples) / batch_size)
    total = max_steps if max_steps is not None else max(1, int(math.ceil(epochs * steps_per_epoch)))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, total // 10)) * max(0.05, 1 - s / total))
    rng = random.Random(seed)
    order: list[int] = []
    losses: list[float] = []
    bar = tqdm(total=total, desc=f"train {task}", disable=not show_progress, unit="step")
    for _step in range(total):
        if len(order) < batch_size:
            perm = list(range(len(examples)))
            rng.shuffle(perm)
            order += perm
        idx, order = order[:batch_size], order[batch_size:]
        batch = [examples[i] for i in idx]
        width = max(len(ids) for ids, _ in batch)
        pad = tok.pad_token_id
        input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in batch], device=where)
        labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in batch], device=where)
        mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in batch], device=where)
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    bar.close()

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    hyper = dict(r=r, alpha=alpha, dropout=dropout, target_modules=list(target_modules), epochs=epochs, lr=lr,
                 batch_size=batch_size, max_length=max_length, steps=total, seed=seed, device=where,
                 dtype=dtype_name(weights_dtype))
    try:
        model.save_pretrained(str(tmp))
        with open(tmp / ADAPTER_INPUTS_FILE, "w", encoding="utf-8") as fh:
            for x, _ in train_rows:
                fh.write(json.dumps({"input": x}, ensure_ascii=False) + "\n")
        del model, bb
        score_before = score_after = None
        if score and eval_rows:
            shared_bb = load_backbone(backbone, device=where, dtype=weights_dtype)
            xs, ys = [x for x, _ in eval_rows], [y for _, y in eval_rows]
            score_before, _ = score_adapter(shared_bb, None, xs, ys, max_new_tokens=max_new_tokens)
            score_after, _ = score_adapter(shared_bb, tmp, xs, ys, max_new_tokens=max_new_tokens)
            invalidate_adapter_folder(tmp)
        meta = {
            "task": task, "base_model": str(backbone) if backbone is not None else DEFAULT_BACKBONE_ID,
            "data": str(Path(data).resolve()), "input_field": input_field, "target_field": target_field,
            "n_train": len(train_rows), "n_eval": len(eval_rows), "hyperparameters": hyper,
            "metric": "exact_match", "score_before": score_before, "score_after": score_after,
            "final_loss": losses[-1] if losses else None,
        }
        (tmp / ADAPTER_TASK_FILE).write_text(json.dumps(meta, indent=2))
        invalidate_adapter_folder(out)
        _atomic_move_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report = TrainingReport(task=task, out_dir=str(out), n_train=len(train_rows), n_eval=len(eval_rows), steps=total,
                            seconds=time.perf_counter() - t0, score_before=score_before, score_after=score_after,
                            losses=losses, hyperparameters=hyper)
    logger.info("trained %s: %d steps, loss %.3f, exact match %s -> %s", task, total, losses[-1], score_before, score_after)
    return report

