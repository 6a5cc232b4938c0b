#!/usr/bin/env python
"""Build the packaged demo pool: data, LoRA adapters, routing index, scores.

    python scripts/build_demo_pool.py                # everything
    python scripts/build_demo_pool.py --data-only    # only the JSONL files (seconds)
    python scripts/build_demo_pool.py --train [--task sql]  # (re)train adapters with `train_lora`
    python scripts/build_demo_pool.py --index        # routing index over the adapters' inputs
    python scripts/build_demo_pool.py --score        # base vs adapter exact match -> scores.json
    python scripts/build_demo_pool.py --compact      # store adapter weights in float16 (training does it too)

Everything lands in ariadne_integrations/demo/. The data comes from the seeded generators in
scripts/demo_tasks.py, so the same seed writes byte-identical files.
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

from demo_tasks import generate_task  # noqa: E402

from ariadne_integrations.demo import DEMO_TASKS  # noqa: E402

DEMO = REPO / "ariadne_integrations" / "demo"
DATA = DEMO / "data"
ADAPTERS = DEMO / "adapters"
INDEX = DEMO / "index"
SCORES = DEMO / "scores.json"

SEED = 20261128
N_TRAIN = 160
N_TEST = 40

# Training settings per task (what `train_lora` receives). Tuned so that every adapter clearly beats
# the base model on its own held-out split while training takes a few minutes on 2 CPU cores.
TRAIN_SETTINGS: dict[str, dict[str, Any]] = {
    "sentiment": {"epochs": 1},
    "support_intent": {"epochs": 1},
    "date_iso": {"epochs": 2},
    "sql": {"epochs": 1.5},
}
COMMON_TRAIN: dict[str, Any] = {"r": 8, "alpha": 16, "lr": 2e-3, "batch_size": 8}
MAX_NEW_TOKENS = 24


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
    """data/<task>/{train,test}.jsonl and data/all_{train,test}.jsonl; test inputs never occur in train."""
    all_train: list[dict[str, str]] = []
    all_test: list[dict[str, str]] = []
    for task in DEMO_TASKS:
        rows = generate_task(task, N_TRAIN + N_TEST, SEED)  # distinct inputs, so the split cannot leak
        train, test = rows[:N_TRAIN], rows[N_TRAIN:]
        _write_jsonl(DATA / task / "train.jsonl", train)
        _write_jsonl(DATA / task / "test.jsonl", test)
        all_train += train
        all_test += test
        print(f"data: {task}: {len(train)} train, {len(test)} test")
    _write_jsonl(DATA / "all_train.jsonl", all_train)
    _write_jsonl(DATA / "all_test.jsonl", all_test)


def normalise(text: str) -> str:
    """Exact match after trimming whitespace and keeping the first line (the model may add more)."""
    text = text.strip()
    return text.splitlines()[0].strip() if text else ""


def exact_match(preds: list[str], targets: list[str]) -> float:
    return sum(normalise(p) == t.strip() for p, t in zip(preds, targets)) / max(len(targets), 1)


def train(tasks: list[str], overrides: dict[str, Any]) -> None:
    from ariadne_integrations.runtime.training import train_lora

    for task in tasks:
        settings = {**COMMON_TRAIN, **TRAIN_SETTINGS[task], **overrides}
        out = ADAPTERS / task
        t0 = time.perf_counter()
        report = train_lora(
            DATA / task / "train.jsonl",
            out,
            task_name=task,
            eval_data=DATA / task / "test.jsonl",
            **settings,
        )
        dt = time.perf_counter() - t0
        print(f"train: {task}: {dt:.0f} s, settings {settings}, report {report}")
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
    from ariadne_integrations.routing.router import AriadneRouter

    router = AriadneRouter.from_adapters([ADAPTERS / t for t in DEMO_TASKS])
    router.save(INDEX)
    print(f"index: {INDEX}")


def score(n: int | None = None) -> dict[str, Any]:
    """Base model vs adapter, greedy, batched generate, exact match on each task's test split."""
    from ariadne_integrations.runtime.adapters import AdapterRuntime
    from ariadne_integrations.runtime.generation import GenerationConfig

    runtime = AdapterRuntime()
    for task in DEMO_TASKS:
        runtime.register_adapter(task, ADAPTERS / task)
    config = GenerationConfig(max_new_tokens=MAX_NEW_TOKENS, temperature=0.0)
    results: dict[str, Any] = {}
    for task in DEMO_TASKS:
        rows = _read_jsonl(DATA / task / "test.jsonl")[:n]
        prompts = [r["input"] for r in rows]
        targets = [r["target"] for r in rows]
        outs = runtime.generate(prompts + prompts, [None] * len(prompts) + [task] * len(prompts), config)
        base = [o.text for o in outs[: len(prompts)]]
        adapted = [o.text for o in outs[len(prompts):]]
        results[task] = {
            "n": len(rows),
            "base_exact_match": round(exact_match(base, targets), 4),
            "adapter_exact_match": round(exact_match(adapted, targets), 4),
            "examples": [
                {"input": p, "target": t, "base": normalise(b), "adapter": normalise(a)}
                for p, t, b, a in list(zip(prompts, targets, base, adapted))[:3]
            ],
        }
        print(f"score: {task}: base {results[task]['base_exact_match']:.1%}  adapter {results[task]['adapter_exact_match']:.1%}")
    report = {
        "metric": "exact match of the first output line (stripped) on data/<task>/test.jsonl",
        "decoding": {"greedy": True, "max_new_tokens": MAX_NEW_TOKENS, "chat_template": True},
        "backbone": runtime.model_name,
        "command": "python scripts/build_demo_pool.py --score",
        "tasks": results,
    }
    if n is None:
        _write_json(SCORES, report)
    return report


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-only", action="store_true", help="write only the JSONL files")
    ap.add_argument("--train", action="store_true", help="train the adapters")
    ap.add_argument("--index", action="store_true", help="build the routing index")
    ap.add_argument("--score", action="store_true", help="measure base vs adapter exact match")
    ap.add_argument("--compact", action="store_true", help="store the trained adapters' weights in float16")
    ap.add_argument("--task", action="append", choices=DEMO_TASKS, help="train only these tasks")
    ap.add_argument("--epochs", type=float, help="override the epochs of every trained task")
    ap.add_argument("--lr", type=float, help="override the learning rate")
    args = ap.parse_args(argv)
    print("command:", shlex.join(["python", "scripts/build_demo_pool.py", *(argv or sys.argv[1:])]))
    everything = not (args.data_only or args.train or args.index or args.score or args.compact)
    build_data()
    if args.data_only:
        return
    overrides = {k: v for k, v in {"epochs": args.epochs, "lr": args.lr}.items() if v is not None}
    if everything or args.train:
        train(args.task or list(DEMO_TASKS), overrides)
    if args.compact:
        for task in args.task or list(DEMO_TASKS):
            compact(task)
    if everything or args.index:
        build_index()
    if everything or args.score:
        score()


if __name__ == "__main__":
    main()
