#!/usr/bin/env python
"""Build the packaged demo pool: data, LoRA adapters, routing index, scores.

    python scripts/build_demo_pool.py                # everything
    python scripts/build_demo_pool.py --data-only    # only the JSONL files (seconds)
    python scripts/build_demo_pool.py --train [--task sql]  # (re)train adapters with `train_lora`
    python scripts/build_demo_pool.py --index        # routing index over the adapters' inputs
    python scripts/build_demo_pool.py --score        # base (exact, lenient, format-instructed) vs adapter,
                                                     # routing accuracy, demo examples -> scores.json
    python scripts/build_demo_pool.py --compact      # store adapter weights in float16 (training does it too)

Everything lands in ariadne_integrations/demo/. The data comes from the seeded generators in
scripts/demo_tasks.py, so the same seed writes byte-identical files. The test split is written from
*other* templates than the training split (other styles, some fillers only it uses); every row carries
its ``template`` id and instruction ``prefix``, and a test row whose body (prefix, case, punctuation and
digits removed) equals a training body is dropped. ``data/oos_{calibration,test}.jsonl`` hold general
questions no demo adapter should take, for calibrating an abstention threshold later.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from demo_tasks import SUPPORT_LABELS, body_key, generate_oos, generate_task  # noqa: E402

from ariadne_integrations.demo import DEMO_TASKS, demo_examples  # noqa: E402

DEMO = REPO / "ariadne_integrations" / "demo"
DATA = DEMO / "data"
ADAPTERS = DEMO / "adapters"
INDEX = DEMO / "index"
SCORES = DEMO / "scores.json"

SEED = 20261128
N_TRAIN = 480
N_TEST = 60
N_OOS = 60

# Training settings per task (what `train_lora` receives): r=8 on q/k/v/o keeps each float16 adapter at
# ~1.8 MB; the epochs are what the four adapters need to pass the held-out test templates while all four
# train in about 20 minutes on 2 CPU cores. Scoring happens in `score()` (on the held-out split), not
# inside `train_lora`, so training spends no time generating.
TRAIN_SETTINGS: dict[str, dict[str, Any]] = {
    "sentiment": {"epochs": 1},
    "support_intent": {"epochs": 1},
    "date_iso": {"epochs": 1.5},
    "sql": {"epochs": 1.5},
}
COMMON_TRAIN: dict[str, Any] = {"r": 8, "alpha": 16, "lr": 2e-3, "batch_size": 8, "score": False}
MAX_NEW_TOKENS = 24
OOS_REJECTION_TARGET = 0.9
"""Share of the calibration set's general questions the demo index must send to the bare backbone."""

# The format-instructed base prompt: the input, a newline, then this instruction. It gives the base model
# what the adapter learned implicitly (the answer format, the label set, the table schema).
FORMAT_INSTRUCTIONS: dict[str, str] = {
    "sentiment": "Answer with only the label: positive or negative.",
    "support_intent": "Answer with only the label, one of: " + ", ".join(SUPPORT_LABELS) + ".",
    "date_iso": "Answer with only the date in YYYY-MM-DD format.",
    "sql": "Answer with only the SQL query, using the tables customers(name, email, city), "
           "products(name, category, price) and orders(total).",
}
LABELS: dict[str, tuple[str, ...]] = {"sentiment": ("positive", "negative"), "support_intent": SUPPORT_LABELS}


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Atomic write: temp file in the same folder, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def _write_json(path: Path, obj: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    os.replace(tmp, path)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def build_data() -> None:
    """data/<task>/{train,test}.jsonl, data/all_{train,test}.jsonl and data/oos_{calibration,test}.jsonl.

    Train and test come from disjoint template sets; on top of that, a test row is dropped when its body
    (with any instruction prefix of either split removed, then case, punctuation and digits) equals a
    training body, so no test input is a training input in disguise.
    """
    all_train: list[dict[str, str]] = []
    all_test: list[dict[str, str]] = []
    for task in DEMO_TASKS:
        train = generate_task(task, N_TRAIN, SEED, "train")
        candidates = generate_task(task, 3 * N_TEST, SEED, "test")
        prefixes = {r["prefix"] for r in train + candidates}
        train_bodies = {body_key(r["input"], p) for r in train for p in prefixes if r["input"].startswith(p)}
        test = [r for r in candidates
                if not any(body_key(r["input"], p) in train_bodies for p in prefixes if r["input"].startswith(p))]
        dropped = len(candidates) - len(test)
        if len(test) < N_TEST:
            raise RuntimeError(f"{task}: only {len(test)} test rows differ from the training rows")
        test = test[:N_TEST]
        assert not {r["template"] for r in train} & {r["template"] for r in test}, task
        _write_jsonl(DATA / task / "train.jsonl", train)
        _write_jsonl(DATA / task / "test.jsonl", test)
        all_train += train
        all_test += test
        print(f"data: {task}: {len(train)} train ({len({r['template'] for r in train})} templates), "
              f"{len(test)} test ({len({r['template'] for r in test})} other templates; "
              f"{dropped} of {len(candidates)} candidates dropped as near-duplicates of training inputs)")
    _write_jsonl(DATA / "all_train.jsonl", all_train)
    _write_jsonl(DATA / "all_test.jsonl", all_test)
    for split in ("calibration", "test"):
        rows = generate_oos(N_OOS, SEED, split)
        _write_jsonl(DATA / f"oos_{split}.jsonl", rows)
        print(f"data: oos_{split}: {len(rows)} questions ({len({r['template'] for r in rows})} templates)")


def normalise(text: str) -> str:
    """Exact match after trimming whitespace and keeping the first line (the model may add more)."""
    text = text.strip()
    return text.splitlines()[0].strip() if text else ""


def _squash(text: str) -> str:
    return " ".join(text.lower().split())


def exact_match(preds: list[str], targets: list[str]) -> float:
    return sum(normalise(p) == t.strip() for p, t in zip(preds, targets)) / max(len(targets), 1)


def lenient_match(preds: list[str], targets: list[str]) -> float:
    """The target anywhere in the whole answer, case-insensitive, whitespace normalised."""
    return sum(_squash(t) in _squash(p) for p, t in zip(preds, targets)) / max(len(targets), 1)


def unambiguous_match(preds: list[str], targets: list[str], labels: tuple[str, ...]) -> float:
    """Lenient, but an answer that also names another label ("positive or negative?") does not count."""
    def ok(p: str, t: str) -> bool:
        found = {lab for lab in labels if _squash(lab) in _squash(p)}
        return found == {t}
    return sum(ok(p, t) for p, t in zip(preds, targets)) / max(len(targets), 1)


def format_instructed(task: str, prompt: str) -> str:
    return f"{prompt}\n{FORMAT_INSTRUCTIONS[task]}"


def train(tasks: list[str], overrides: dict[str, Any], command: str) -> None:
    from ariadne_integrations.runtime.training import TASK_FILE, train_lora

    for task in tasks:
        settings = {**COMMON_TRAIN, **TRAIN_SETTINGS[task], **overrides}
        out = ADAPTERS / task
        t0 = time.perf_counter()
        report = train_lora(DATA / task / "train.jsonl", out, task_name=task, **settings)
        dt = time.perf_counter() - t0
        print(f"train: {task}: {dt:.0f} s, {report.steps} steps, final loss {report.losses[-1]:.4f}, settings {settings}",
              flush=True)
        # Machine-independent metadata: the data path relative to the repository, how it was made.
        meta_path = out / TASK_FILE
        meta = json.loads(meta_path.read_text())
        meta["data"] = str((DATA / task / "train.jsonl").relative_to(REPO))
        meta["train_seconds"] = round(dt, 1)
        meta["command"] = command
        meta["scores"] = "held-out scores: ariadne_integrations/demo/scores.json"
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")
        compact(task)


def compact(task: str) -> None:
    """Store the shipped adapter's weights in float16 (half the bytes; peft loads them into the fp32 model)."""
    from safetensors.numpy import load_file, save_file

    path = ADAPTERS / task / "adapter_model.safetensors"
    arrays = load_file(str(path))
    if all(a.dtype == np.float16 for a in arrays.values()):
        return
    tmp = path.with_suffix(".tmp")
    save_file({k: a.astype(np.float16) for k, a in arrays.items()}, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, path)
    print(f"compact: {task}: {path.stat().st_size / 1e6:.1f} MB (float16)")


def build_index() -> None:
    from ariadne_integrations.jsonl import read_jsonl
    from ariadne_integrations.routing.router import AriadneRouter

    # Calibrated abstention: the lowest threshold that sends 90 % of the calibration set's general questions
    # (data/oos_calibration.jsonl) to the bare backbone, measured against 10 % of each adapter's inputs held out.
    oos = read_jsonl(DATA / "oos_calibration.jsonl", label_field=None)
    router = AriadneRouter.from_adapters([ADAPTERS / t for t in DEMO_TASKS], calibrate_oos=oos, holdout=0.1,
                                         target_oos_rejection=OOS_REJECTION_TARGET)
    router.save(INDEX)
    rep = router.calibration_report or {}
    print(f"index: {INDEX} (threshold {router.threshold:.4f}: calibration in-scope accuracy "
          f"{rep.get('in_scope_accuracy', float('nan')):.3f}, out-of-scope rejection {rep.get('oos_rejection', float('nan')):.3f})")


def _generate(runtime: Any, prompts: list[str], adapters: list[str | None], config: Any, batch: int = 32) -> list[str]:
    """Batched greedy generation, prompts grouped by length (less padding), answers in input order."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: list[str] = [""] * len(prompts)
    for i in range(0, len(order), batch):
        idx = order[i:i + batch]
        for j, g in zip(idx, runtime.generate([prompts[j] for j in idx], [adapters[j] for j in idx], config)):
            out[j] = g.text
    return out


def score(command: str, n: int | None = None) -> dict[str, Any]:
    """On each task's held-out split: the base model (exact, lenient, format-instructed) vs its adapter;
    the routing index's selection accuracy; and the demo examples routed and answered end to end."""
    from ariadne_integrations.routing.evaluate import evaluate_router
    from ariadne_integrations.routing.router import AriadneRouter
    from ariadne_integrations.runtime.adapters import AdapterRuntime
    from ariadne_integrations.runtime.generation import GenerationConfig

    t0 = time.perf_counter()
    runtime = AdapterRuntime()
    for task in DEMO_TASKS:
        runtime.register_adapter(task, ADAPTERS / task)
    config = GenerationConfig(max_new_tokens=MAX_NEW_TOKENS, temperature=0.0)
    rows = {task: _read_jsonl(DATA / task / "test.jsonl")[:n] for task in DEMO_TASKS}
    # One pass over everything: base, format-instructed base and adapter rows, mixed in the same batches.
    prompts: list[str] = []
    adapters: list[str | None] = []
    for task in DEMO_TASKS:
        xs = [r["input"] for r in rows[task]]
        prompts += xs + [format_instructed(task, x) for x in xs] + xs
        adapters += [None] * (2 * len(xs)) + [task] * len(xs)
    answers = iter(_generate(runtime, prompts, adapters, config))
    results: dict[str, Any] = {}
    for task in DEMO_TASKS:
        k = len(rows[task])
        base, fmt, adapted = ([next(answers) for _ in range(k)] for _ in range(3))
        targets = [r["target"] for r in rows[task]]
        labels = LABELS.get(task)
        res = {
            "n": k,
            "n_templates": len({r["template"] for r in rows[task]}),
            "base_exact_match": round(exact_match(base, targets), 4),
            "base_lenient_match": round(lenient_match(base, targets), 4),
            "base_lenient_unambiguous": round(unambiguous_match(base, targets, labels), 4) if labels else None,
            "base_format_instructed_exact_match": round(exact_match(fmt, targets), 4),
            "base_format_instructed_lenient_match": round(lenient_match(fmt, targets), 4),
            "adapter_exact_match": round(exact_match(adapted, targets), 4),
            "adapter_errors": [
                {"input": r["input"], "target": r["target"], "adapter": normalise(a)}
                for r, a in zip(rows[task], adapted) if normalise(a) != r["target"]
            ],
            "examples": [
                {"input": r["input"], "target": r["target"], "base": normalise(b), "base_format_instructed": normalise(f),
                 "adapter": normalise(a)}
                for r, b, f, a in list(zip(rows[task], base, fmt, adapted))[:3]
            ],
        }
        results[task] = res
        print(f"score: {task}: base exact {res['base_exact_match']:.1%}, lenient {res['base_lenient_match']:.1%}, "
              f"format-instructed {res['base_format_instructed_exact_match']:.1%} "
              f"(lenient {res['base_format_instructed_lenient_match']:.1%}); adapter {res['adapter_exact_match']:.1%}",
              flush=True)

    router = AriadneRouter.load(INDEX)
    texts = [r["input"] for t in DEMO_TASKS for r in rows[t]]
    gold = [t for t in DEMO_TASKS for _ in rows[t]]
    ev = evaluate_router(router, texts, gold)
    decisions = router.route_batch(texts)
    routing = {
        "selection_accuracy": round(ev.selection_accuracy, 4),
        "n": len(texts),
        "per_task": {t: round(sum(d.best == t for d, g in zip(decisions, gold) if g == t) / len(rows[t]), 4)
                     for t in DEMO_TASKS},
        "errors": [{"input": x, "task": g, "routed": d.best} for x, g, d in zip(texts, gold, decisions) if d.best != g],
    }
    print(f"score: routing on the held-out split: {routing['selection_accuracy']:.2%} of {len(texts)}", flush=True)

    examples = demo_examples()
    ex_prompts = [e["prompt"] for e in examples]
    ex_routes = router.route_batch(ex_prompts)
    ex_answers = _generate(runtime, ex_prompts, [d.best for d in ex_routes], config)
    ex_rows = []
    for e, d, a in zip(examples, ex_routes, ex_answers):
        ok = d.best == e["task"] and answer_matches(e["task"], a, e["expected"])
        ex_rows.append({"prompt": e["prompt"], "source": e["source"], "expected": e["expected"], "adapter": d.best,
                        "answer": normalise(a), "ok": ok})
        print(f"example: {'ok ' if ok else 'BAD'} {d.best:>14} | {e['prompt']} -> {normalise(a)!r}", flush=True)

    report = {
        "metric": {
            "exact_match": "first output line, stripped, equal to the target (case-sensitive)",
            "lenient_match": "the target anywhere in the whole answer, case-insensitive, whitespace normalised",
            "lenient_unambiguous": "lenient, and no other label of the task in the answer (label tasks only)",
            "format_instructed": "the base model on the input followed by a newline and FORMAT_INSTRUCTIONS[task]",
        },
        "held_out": ("data/<task>/test.jsonl: written from templates (and partly fillers) that the training split "
                     "never uses; no test input equals a training input once prefix, case, punctuation and digits "
                     "are removed"),
        "format_instructions": FORMAT_INSTRUCTIONS,
        "decoding": {"greedy": True, "max_new_tokens": MAX_NEW_TOKENS, "chat_template": True},
        "backbone": runtime.model_name,
        "command": command,
        "seconds": round(time.perf_counter() - t0, 1),
        "training": {t: _training_summary(t) for t in DEMO_TASKS},
        "routing": routing,
        "demo_examples": ex_rows,
        "tasks": results,
    }
    if n is None:
        _write_json(SCORES, report)
    return report


def normalise_sql(text: str) -> str:
    return " ".join(normalise(text).replace('"', "'").lower().rstrip(";").split())


def answer_matches(task: str, answer: str, expected: str) -> bool:
    """Exact first line for labels and dates; SQL up to case, spacing, quote style and the final ';'."""
    if task == "sql":
        return normalise_sql(answer) == normalise_sql(expected)
    return normalise(answer) == expected


def _training_summary(task: str) -> dict[str, Any]:
    meta_path = ADAPTERS / task / "ariadne_task.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    weights = ADAPTERS / task / "adapter_model.safetensors"
    return {"n_train": meta.get("n_train"), "hyperparameters": meta.get("hyperparameters"),
            "train_seconds": meta.get("train_seconds"), "final_loss": meta.get("final_loss"),
            "command": meta.get("command"), "adapter_bytes": weights.stat().st_size if weights.is_file() else None}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-only", action="store_true", help="write only the JSONL files")
    ap.add_argument("--train", action="store_true", help="train the adapters")
    ap.add_argument("--index", action="store_true", help="build the routing index")
    ap.add_argument("--score", action="store_true",
                    help="base (exact, lenient, format-instructed) vs adapter on the held-out split, routing, demo examples")
    ap.add_argument("--compact", action="store_true", help="store the trained adapters' weights in float16")
    ap.add_argument("--task", action="append", choices=DEMO_TASKS, help="train only these tasks")
    ap.add_argument("--epochs", type=float, help="override the epochs of every trained task")
    ap.add_argument("--lr", type=float, help="override the learning rate")
    args = ap.parse_args(argv)
    command = shlex.join(["python", "scripts/build_demo_pool.py", *(sys.argv[1:] if argv is None else argv)])
    print("command:", command, flush=True)
    everything = not (args.data_only or args.train or args.index or args.score or args.compact)
    build_data()
    if args.data_only:
        return
    overrides = {k: v for k, v in {"epochs": args.epochs, "lr": args.lr}.items() if v is not None}
    if everything or args.train:
        train(args.task or list(DEMO_TASKS), overrides, command)
    if args.compact:
        for task in args.task or list(DEMO_TASKS):
            compact(task)
    if everything or args.index:
        build_index()
    if everything or args.score:
        score(command)


if __name__ == "__main__":
    main()
