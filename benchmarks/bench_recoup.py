"""Recoup on real data: task score of routed queries / task score with each query's own adapter (oracle).

    python benchmarks/bench_recoup.py [--data ../shared/benchmarks/clinc150] [--n 3000] [--quick]

- Adapter pool: one LoRA adapter per task of ``--data`` (CLINC150: 10 domains), trained with the project's own
  ``train_lora`` on the embedded SmolLM2 backbone, on a seeded subsample of ``train.jsonl`` (``--train-per-task``
  rows, balanced over the task's targets); the target is the row's ``target`` field, else ``--label-field``
  (CLINC: the intent name). Adapters are cached in ``--cache-dir`` (default
  ``~/.cache/ariadne-integrations/recoup/<settings hash>``), so a rerun only evaluates.
- Two router indexes over the training inputs, with ``adapter_paths``: the default strategy (k-means) and
  ``strategy="paper"`` (the ARIADNE recipe); a third (k-means) calibrated with ``AriadneRouter.calibrate`` on
  held-out train rows (never trained on) plus ``train_oos.jsonl``.
- Evaluation on ``dev.jsonl`` (seeded, task-balanced subsample of ``--n`` rows when given), exact match of the
  first answer line, greedy: (a) bare backbone, (b) oracle (each row to its own task's adapter), (c) routed by the
  k-means index through ``AriadneLLM`` with the threshold off (``threshold=-1``), (d) routed by the paper index,
  (e) a seeded random adapter. (a), (b), (e) run as mixed-adapter batches of ``AdapterRuntime.generate``.
  recoup = routed / oracle.
- Threshold on (calibrated index): share of the dev out-of-scope rows (``--oos-label``) sent to the bare
  backbone, and the in-scope score when abstained rows are answered by the bare backbone. These come from the
  calibrated router's decisions and the answers already generated: an abstained row takes (a)'s answer, a routed
  one its adapter's answer from (c) (same k-means centroids, same top adapter), so no extra generation.

Writes benchmarks/results/recoup.json (``--out``). The machine is shared: the load average is recorded.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import random
import shlex
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "recoup.json"
DEFAULT_DATA = REPO.parent / "shared" / "benchmarks" / "clinc150"

log = logging.getLogger("bench_recoup")

Row = dict[str, str]  # input, task, target


# ---------------------------------------------------------------------------------------------- data
def read_rows(path: Path, label_field: str) -> list[Row]:
    """``{"input", "task", "target"}`` rows; the target is ``target`` when present, else ``label_field``."""
    rows: list[Row] = []
    with open(path, encoding="utf-8") as fh:
        for ln, line in enumerate(fh, 1):
            if not line.strip():
                continue
            obj = json.loads(line)
            target = obj.get("target", obj.get(label_field))
            if not isinstance(obj.get("input"), str) or not isinstance(obj.get("task"), str) or not isinstance(target, str):
                raise SystemExit(f"{path}:{ln}: needs string fields input, task and target (or {label_field})")
            rows.append({"input": obj["input"], "task": obj["task"], "target": target})
    return rows


def balanced_sample(rows: Sequence[Row], n: int, seed: int, key: str) -> list[Row]:
    """``n`` rows drawn round-robin over the values of ``key`` (seeded); all rows when there are fewer."""
    if n >= len(rows):
        return list(rows)
    rng = random.Random(seed)
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        groups[r[key]].append(r)
    if len(groups) > n:  # (nearly) one row per value: no balancing to do
        return rng.sample(list(rows), n)
    pools = [rng.sample(g, len(g)) for _, g in sorted(groups.items())]
    out: list[Row] = []
    while len(out) < n:
        for p in pools:
            if p and len(out) < n:
                out.append(p.pop())
    return out


def first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0].strip()


def score(answers: Sequence[str], rows: Sequence[Row]) -> float:
    from ariadne_integrations.runtime.training import exact_match

    return exact_match([first_line(a) for a in answers], [r["target"] for r in rows])


def correct(answer: str, row: Row) -> bool:
    from ariadne_integrations.runtime.training import normalize_answer

    return normalize_answer(first_line(answer)) == normalize_answer(row["target"])


# ---------------------------------------------------------------------------------------------- training
def settings_hash(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def train_pool(train_sets: dict[str, list[Row]], cache: Path, hp: dict[str, Any], device: str) -> dict[str, Any]:
    """Train (or find in the cache) one adapter per task; returns folders and training time."""
    from ariadne_integrations.runtime.training import train_lora

    meta_file = cache / "training.json"
    meta: dict[str, Any] = json.loads(meta_file.read_text()) if meta_file.is_file() else {"seconds": {}, "steps": {}, "final_loss": {}}
    folders: dict[str, Path] = {}
    trained_now = 0.0
    for i, (task, rows) in enumerate(train_sets.items(), 1):
        folder = cache / "adapters" / task
        folders[task] = folder
        if (folder / "adapter_config.json").is_file() and task in meta["seconds"]:
            continue
        data = cache / "train" / f"{task}.jsonl"
        data.parent.mkdir(parents=True, exist_ok=True)
        with open(data, "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps({"input": r["input"], "target": r["target"]}, ensure_ascii=False) + "\n")
        t0 = time.perf_counter()
        rep = train_lora(data, folder, task_name=task, epochs=hp["epochs"], lr=hp["lr"], r=hp["r"], alpha=hp["alpha"],
                         batch_size=hp["batch_size"], max_length=hp["max_length"], seed=hp["seed"], score=False,
                         show_progress=False, device=device)
        sec = time.perf_counter() - t0
        trained_now += sec
        meta["seconds"][task], meta["steps"][task], meta["final_loss"][task] = round(sec, 1), rep.steps, round(rep.losses[-1], 4)
        meta_file.parent.mkdir(parents=True, exist_ok=True)
        meta_file.write_text(json.dumps(meta, indent=2))
        print(f"  trained {task} ({i}/{len(train_sets)}): {rep.steps} steps, {sec:.0f} s, final loss {rep.losses[-1]:.3f}", flush=True)
    total = sum(meta["seconds"].values())
    return {"folders": folders, "seconds_total": round(total, 1), "seconds_this_run": round(trained_now, 1),
            "cached": trained_now == 0.0, **meta}


# ---------------------------------------------------------------------------------------------- generation
def runtime_answers(rt: Any, rows: Sequence[Row], adapters: Sequence[str | None], cfg: Any, batch: int, desc: str) -> list[str]:
    """Mixed-adapter batches of ``AdapterRuntime.generate`` (rows already sorted by length)."""
    from tqdm.auto import tqdm

    out: list[str] = []
    for i in tqdm(range(0, len(rows), batch), desc=desc, unit="batch", leave=False):
        res = rt.generate([r["input"] for r in rows[i:i + batch]], list(adapters[i:i + batch]), cfg)
        out += [x.text for x in res]
    return out


def routed_answers(llm: Any, rows: Sequence[Row], batch: int, desc: str) -> tuple[list[str], list[str | None]]:
    """Answers and chosen adapters through ``AriadneLLM.generate`` (the call ``.batch`` makes), one routed
    mixed-adapter backend call per chunk."""
    from tqdm.auto import tqdm

    texts: list[str] = []
    chosen: list[str | None] = []
    for i in tqdm(range(0, len(rows), batch), desc=desc, unit="batch", leave=False):
        res = llm.generate([r["input"] for r in rows[i:i + batch]])
        for g in res.generations:
            texts.append(g[0].text)
            chosen.append((g[0].generation_info or {}).get("adapter"))
    return texts, chosen


def second_opinion(rt: Any, rows: Sequence[Row], top2: Sequence[Any], answers: dict[str, list[str]],
                   ok: dict[str, list[bool]], cfg: Any, oracle: float) -> dict[str, Any]:
    """Can the adapters choose between the router's two best? Each of the two answers is scored by its own adapter
    (``AdapterRuntime.score_completions``, mean log-probability per token, end of answer included) and the surer one
    kept: on every row, and on the rows whose router margin is below a few cut-offs (a sweep, not a tuned choice).
    ``best_of_top2`` is the ceiling: a judge that always knew which of the two answers is right."""
    prompts = [r["input"] for r in rows]
    best = [d.best for d in top2]
    runner = [d.runner_up for d in top2]
    mine = rt.score_completions(prompts, answers["routed"], best, cfg)
    theirs = rt.score_completions(prompts, answers["runner_up"], runner, cfg)
    n = len(rows)
    first_ok, second_ok = ok["routed"], ok["runner_up"]
    prefer_second = [b.mean_logprob > a.mean_logprob for a, b in zip(mine, theirs)]
    margins = [d.margin for d in top2]

    def kept(cut: float | None) -> dict[str, Any]:
        switch = [p and (cut is None or m < cut) for p, m in zip(prefer_second, margins)]
        got = sum(s_ok if sw else f_ok for sw, f_ok, s_ok in zip(switch, first_ok, second_ok)) / n
        return {"score": round(got, 4), "recoup": round(got / oracle, 4) if oracle else None,
                "rows_verified": sum(cut is None or m < cut for m in margins), "switched": sum(switch),
                "switched_to_true_adapter": sum(sw and r["task"] == b for sw, r, b in zip(switch, rows, runner)),
                "switched_away_from_true_adapter": sum(sw and r["task"] == a for sw, r, a in zip(switch, rows, best))}

    ceiling = sum(a or b for a, b in zip(first_ok, second_ok)) / n
    return {
        "true_adapter_in_top2": round(sum(r["task"] in (a, b) for r, a, b in zip(rows, best, runner)) / n, 4),
        "runner_up_answer_score": round(sum(second_ok) / n, 4),
        "best_of_top2": round(ceiling, 4), "best_of_top2_recoup": round(ceiling / oracle, 4) if oracle else None,
        "by_adapter_logprob": {"every row": kept(None), **{f"margin < {c}": kept(c) for c in (0.01, 0.02, 0.05, 0.1)}},
        "how": "the router's best and runner-up adapter each answer; each answer is scored by its own adapter (mean "
               "log-probability per token, end of answer included) and the higher one is kept",
    }


# ---------------------------------------------------------------------------------------------- main run
def run(args: argparse.Namespace) -> dict[str, Any]:
    from ariadne_integrations import AriadneRouter
    from ariadne_integrations.langchain import AriadneLLM
    from ariadne_integrations.runtime.adapters import AdapterRuntime
    from ariadne_integrations.runtime.generation import GenerationConfig

    data = args.data.resolve()
    train_all = read_rows(data / "train.jsonl", args.label_field)
    dev_all = read_rows(data / "dev.jsonl", args.label_field)
    oos_label = args.oos_label
    tasks = sorted({r["task"] for r in train_all if r["task"] != oos_label})
    if args.tasks:
        tasks = tasks[: args.tasks]
    by_task: dict[str, list[Row]] = defaultdict(list)
    for r in train_all:
        if r["task"] in tasks:
            by_task[r["task"]].append(r)
    train_sets = {t: balanced_sample(by_task[t], args.train_per_task, args.seed, "target") for t in tasks}
    used = {id(r) for rows in train_sets.values() for r in rows}
    rng = random.Random(args.seed + 1)
    held_out = {t: rng.sample([r for r in by_task[t] if id(r) not in used],
                              min(args.calib_per_task, len([r for r in by_task[t] if id(r) not in used]))) for t in tasks}

    hp = {"epochs": args.epochs, "lr": args.lr, "r": args.r, "alpha": args.alpha, "batch_size": args.batch_size,
          "max_length": args.max_length, "seed": args.seed}
    settings = {"data": str(data), "tasks": tasks, "train_per_task": args.train_per_task, "label_field": args.label_field,
                "train_bytes": (data / "train.jsonl").stat().st_size, **hp}
    cache = (args.cache_dir or Path("~/.cache/ariadne-integrations/recoup") / settings_hash(settings)).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "settings.json").write_text(json.dumps(settings, indent=2))
    print(f"{len(tasks)} adapters, {args.train_per_task} training rows each, cache {cache}", flush=True)

    training = train_pool(train_sets, cache, hp, args.device)
    folders = training.pop("folders")
    print(f"training: {training['seconds_total']:.0f} s in all ({'cached' if training['cached'] else 'trained now'})", flush=True)

    # ---- indexes
    t0 = time.perf_counter()
    examples = {t: [r["input"] for r in train_sets[t]] for t in tasks}
    paths = {t: str(folders[t]) for t in tasks}
    idx_dirs = {name: cache / f"index_{name}" for name in ("kmeans", "paper", "calibrated")}
    router = AriadneRouter.from_examples(examples, adapter_paths=paths, seed=args.seed)
    router.save(idx_dirs["kmeans"])
    AriadneRouter.from_examples(examples, adapter_paths=paths, strategy="paper", seed=args.seed).save(idx_dirs["paper"])
    oos_train_file = data / "train_oos.jsonl"
    oos_train = [r["input"] for r in read_rows(oos_train_file, args.label_field)] if oos_train_file.is_file() else []
    held_rows = [r for t in tasks for r in held_out[t]]
    calib = router.calibrate([r["input"] for r in held_rows], [r["task"] for r in held_rows], oos_train or None)
    router.save(idx_dirs["calibrated"])
    index_seconds = time.perf_counter() - t0
    print(f"indexes built in {index_seconds:.0f} s; calibrated threshold {router.threshold}", flush=True)

    # ---- evaluation rows
    dev_in = [r for r in dev_all if r["task"] in tasks]
    dev_oos = [r for r in dev_all if r["task"] == oos_label or r["target"] == oos_label]
    subsampled = args.n is not None and args.n < len(dev_in)
    if subsampled:
        dev_in = balanced_sample(dev_in, args.n, args.seed + 2, "task")
    if args.quick:
        dev_oos = dev_oos[: 4 * len(tasks)]
    dev_in.sort(key=lambda r: len(r["input"]))  # less padding per batch
    n = len(dev_in)

    backbone_tok = AdapterRuntime(None, device=args.device).backbone.tokenizer
    targets = {r["target"] for t in tasks for r in by_task[t]}
    longest = max(len(backbone_tok(x, add_special_tokens=False)["input_ids"]) for x in targets)
    max_new = args.max_new_tokens or longest + 2
    cfg = GenerationConfig(max_new_tokens=max_new)
    rt = AdapterRuntime(None, {t: folders[t] for t in tasks}, max_loaded_adapters=len(tasks), device=args.device)
    print(f"evaluating {n} in-scope dev rows ({'seeded task-balanced subsample' if subsampled else 'all'}), "
          f"{len(dev_oos)} out-of-scope rows; max_new_tokens {max_new}", flush=True)

    timings: dict[str, float] = {}
    answers: dict[str, list[str]] = {}
    chosen: dict[str, list[str | None]] = {}

    def timed(name: str, fn: Any) -> Any:
        t = time.perf_counter()
        res = fn()
        timings[name] = round(time.perf_counter() - t, 1)
        print(f"  {name}: {timings[name]:.0f} s", flush=True)
        return res

    rand_rng = random.Random(args.seed + 3)
    random_adapters = [rand_rng.choice(tasks) for _ in dev_in]
    answers["base"] = timed("base", lambda: runtime_answers(rt, dev_in, [None] * n, cfg, args.gen_batch, "base"))
    answers["oracle"] = timed("oracle", lambda: runtime_answers(rt, dev_in, [r["task"] for r in dev_in], cfg, args.gen_batch, "oracle"))
    common = {"threshold": -1.0, "max_new_tokens": max_new, "max_loaded_adapters": len(tasks), "device": args.device,
              "coalesce_window_ms": 0.0}
    for name, idx in (("routed", "kmeans"), ("routed_paper", "paper")):
        llm = AriadneLLM.from_index(idx_dirs[idx], **common)
        answers[name], chosen[name] = timed(name, lambda llm=llm, name=name: routed_answers(llm, dev_in, args.gen_batch, name))
    answers["random"] = timed("random", lambda: runtime_answers(rt, dev_in, random_adapters, cfg, args.gen_batch, "random"))
    top2 = router.route_batch([r["input"] for r in dev_in], threshold=-1.0, min_margin=None)  # best and runner-up
    if [d.best for d in top2] != chosen["routed"]:  # same centroids: say so rather than guess
        raise SystemExit("the k-means index's best adapters differ from the ones AriadneLLM routed to")
    runner_ups = [d.runner_up for d in top2]
    answers["runner_up"] = timed("runner_up", lambda: runtime_answers(rt, dev_in, runner_ups, cfg, args.gen_batch, "runner-up"))

    ok = {k: [correct(a, r) for a, r in zip(v, dev_in)] for k, v in answers.items()}
    scores = {k: sum(v) / n for k, v in ok.items()}

    def routing(name: str) -> dict[str, Any]:
        hit = [c == r["task"] for c, r in zip(chosen[name], dev_in)]
        mis = [i for i, h in enumerate(hit) if not h]
        return {"accuracy": round(sum(hit) / n, 4), "misrouted": len(mis),
                "misrouted_oracle_right": sum(ok["oracle"][i] for i in mis),
                "misrouted_routed_right": sum(ok[name][i] for i in mis)}

    per_task = {t: {} for t in tasks}
    for t in tasks:
        ids = [i for i, r in enumerate(dev_in) if r["task"] == t]
        per_task[t]["n"] = len(ids)
        for k in ok:
            per_task[t][k] = round(sum(ok[k][i] for i in ids) / len(ids), 4) if ids else None
        per_task[t]["routing_accuracy"] = round(sum(chosen["routed"][i] == t for i in ids) / len(ids), 4) if ids else None

    # ---- threshold on: calibrated decisions; abstained rows take the base model's answer
    cal_in = router.route_batch([r["input"] for r in dev_in])
    thr_ok = [ok["base"][i] if d.abstained else (ok["routed"][i] if d.adapter == chosen["routed"][i] else None)
              for i, d in enumerate(cal_in)]
    if any(x is None for x in thr_ok):  # cannot happen with the same centroids; say so rather than guess
        raise SystemExit("the calibrated index chose a different adapter than the k-means index")
    cal_oos = router.route_batch([r["input"] for r in dev_oos]) if dev_oos else []
    thr_score = sum(bool(x) for x in thr_ok) / n
    oos_block = {
        "threshold": router.threshold,
        "calibration": {k: calib[k] for k in calib if isinstance(calib[k], (int, float, str)) or calib[k] is None},
        "calibration_data": {"heldout_train_rows": len(held_rows), "oos_texts": len(oos_train)},
        "n_oos_dev": len(dev_oos),
        "oos_to_base": round(sum(d.abstained for d in cal_oos) / len(dev_oos), 4) if dev_oos else None,
        "in_scope_abstained": sum(d.abstained for d in cal_in),
        "in_scope_score": round(thr_score, 4),
        "recoup": round(thr_score / scores["oracle"], 4) if scores["oracle"] else None,
        "how": "calibrated k-means index's decisions; abstained in-scope rows take the bare backbone's answer (base), "
               "routed ones their adapter's answer from 'routed'",
    }

    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 4) if b else None

    second = timed("second_opinion", lambda: second_opinion(rt, dev_in, top2, answers, ok, cfg, scores["oracle"]))

    try:
        load = list(os.getloadavg())
    except OSError:
        load = []
    return {
        "n": n, "subsampled": subsampled, "n_dev_in_scope_total": len([r for r in dev_all if r["task"] in tasks]),
        "data": str(data), "tasks": tasks, "quick": args.quick,
        "base": round(scores["base"], 4), "oracle": round(scores["oracle"], 4), "routed": round(scores["routed"], 4),
        "routed_paper": round(scores["routed_paper"], 4), "random": round(scores["random"], 4),
        "recoup": ratio(scores["routed"], scores["oracle"]), "recoup_paper": ratio(scores["routed_paper"], scores["oracle"]),
        "target_recoup": 0.99, "target_met": (scores["routed"] / scores["oracle"] >= 0.99) if scores["oracle"] else False,
        "routing": {"kmeans": routing("routed"), "paper": routing("routed_paper")},
        "random_adapter_is_true": round(sum(a == r["task"] for a, r in zip(random_adapters, dev_in)) / n, 4),
        "per_task": per_task,
        "threshold_on": oos_block,
        "second_opinion": second,
        "metric": "exact match of the first answer line (normalised: lower case, single spaces, no trailing full stop), greedy",
        "max_new_tokens": max_new,
        "training": {"settings": {**hp, "train_per_task": args.train_per_task, "balanced_over": "target",
                                  "trainer": "ariadne_integrations.runtime.training.train_lora", "device": args.device},
                     "seconds_total": training["seconds_total"], "seconds_this_run": training["seconds_this_run"],
                     "cached": training["cached"], "seconds": training["seconds"], "steps": training["steps"],
                     "final_loss": training["final_loss"], "cache_dir": str(cache)},
        "index_seconds": round(index_seconds, 1),
        "eval_seconds": timings,
        "load_average": load,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "command": " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).name if sys.argv else "bench_recoup.py", *sys.argv[1:]]),
    }


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with train.jsonl / dev.jsonl (input, task, target or label)")
    ap.add_argument("--label-field", default="intent", help="the target when a row has no 'target' field")
    ap.add_argument("--oos-label", default="oos", help="task / label of out-of-scope dev rows")
    ap.add_argument("--n", type=int, default=None, help="seeded task-balanced subsample of the in-scope dev rows")
    ap.add_argument("--tasks", type=int, default=None, help="only the first N tasks (sorted)")
    ap.add_argument("--train-per-task", type=int, default=300)
    ap.add_argument("--calib-per-task", type=int, default=50, help="held-out train rows per task for the threshold")
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--alpha", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--max-new-tokens", type=int, default=None, help="default: longest target in tokens + 2")
    ap.add_argument("--gen-batch", type=int, default=64, help="prompts per generation call")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--quick", action="store_true", help="tiny run: 3 tasks, 20 rows, a few steps, 8 dev rows per task")
    ap.add_argument("--out", type=Path, default=OUT)
    return ap


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if args.quick:
        args.tasks = args.tasks or 3
        args.train_per_task = min(args.train_per_task, 20)
        args.epochs = min(args.epochs, 1.0)
        args.n = args.n or 8 * args.tasks
        args.calib_per_task = min(args.calib_per_task, 10)
        args.gen_batch = max(args.gen_batch, 32)
        if args.cache_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="recoup-quick-")
            args.cache_dir = Path(tmp.name)
    try:
        res = run(args)
    finally:
        if tmp is not None:
            tmp.cleanup()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    r = res["routing"]

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.1%}"

    print(f"n={res['n']}{' (subsample)' if res['subsampled'] else ''}: base {pct(res['base'])}, oracle {pct(res['oracle'])}, "
          f"routed {pct(res['routed'])} (recoup {pct(res['recoup'])}, target 99%: {'met' if res['target_met'] else 'NOT met'}), "
          f"paper {pct(res['routed_paper'])} (recoup {pct(res['recoup_paper'])}), random adapter {pct(res['random'])}")
    print(f"routing accuracy: k-means {pct(r['kmeans']['accuracy'])} ({r['kmeans']['misrouted']} misrouted, oracle right on "
          f"{r['kmeans']['misrouted_oracle_right']}, routed right on {r['kmeans']['misrouted_routed_right']}); paper "
          f"{pct(r['paper']['accuracy'])} ({r['paper']['misrouted']} misrouted)")
    th = res["threshold_on"]
    if th["oos_to_base"] is not None:
        print(f"threshold {th['threshold']:.4f}: out-of-scope dev rows to the bare backbone {th['oos_to_base']:.1%}; in-scope "
              f"{th['in_scope_abstained']} abstained, score {pct(th['in_scope_score'])} (recoup {pct(th['recoup'])})")
    so = res["second_opinion"]
    every = so["by_adapter_logprob"]["every row"]
    print(f"second opinion: true adapter in the top 2 on {pct(so['true_adapter_in_top2'])}; a judge that always picks the "
          f"right one of the two answers would score {pct(so['best_of_top2'])} (recoup {pct(so['best_of_top2_recoup'])}); "
          f"the adapters' own log-probability scores {pct(every['score'])} (recoup {pct(every['recoup'])}: "
          f"{every['switched_to_true_adapter']} switches to the true adapter, {every['switched_away_from_true_adapter']} away)")
    for cut, v in so["by_adapter_logprob"].items():
        print(f"  {cut:>12}: {v['rows_verified']:5d} rows asked, score {pct(v['score'])}, recoup {pct(v['recoup'])}")
    print(f"training {res['training']['seconds_total']:.0f} s ({'cached' if res['training']['cached'] else 'this run'}); "
          f"load average {res['load_average']}; wrote {args.out}")
    return res


if __name__ == "__main__":
    main()
