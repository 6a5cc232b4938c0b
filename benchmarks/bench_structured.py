"""Grammar-constrained (JSON schema) vs free decoding on the demo backbone, side by side in one run.

8 held-out demo prompts (2 per adapter) in ONE mixed-adapter batch, greedy, up to 48 new tokens. The
constrained run gives each row its own schema (what that adapter answers, as JSON), so it also shows
rows with different schemas sharing one ``generate``. Reported: the median time of one decoding step
(timed inside ``generate`` between consecutive logits-processor calls, so the prompt pass and passing
spikes on a shared machine do not count), the time spent building and applying the token masks per
step, decoding steps and completion tokens per answer batch, tokens per second of the whole call, and
how many constrained answers parse. Medians of --repeats alternating runs. Then, per adapter, the exact
match of the free answer (first line) and of the constrained answer's one field against the targets of
the first --accuracy held-out rows: whether wrapping an adapter's answer in JSON changes it.

    python benchmarks/bench_structured.py [--repeats 3] [--out benchmarks/results/structured.json]

Needs the ``structured`` extra (xgrammar).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]

from ariadne_integrations.demo import demo_adapter_paths, demo_data_path  # noqa: E402
from ariadne_integrations.runtime import constrained  # noqa: E402
from ariadne_integrations.runtime.adapters import AdapterRuntime  # noqa: E402
from ariadne_integrations.runtime.generation import GenerationConfig  # noqa: E402

SCHEMAS = {
    "sentiment": {"type": "object", "properties": {"sentiment": {"enum": ["positive", "negative"]}}, "required": ["sentiment"]},
    "support_intent": {"type": "object", "properties": {"intent": {"enum": [
        "refund", "shipping_status", "cancel_subscription", "password_reset", "update_address"]}}, "required": ["intent"]},
    "date_iso": {"type": "object", "properties": {"date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}},
                 "required": ["date"]},
    "sql": {"type": "object", "properties": {"sql": {"type": "string", "maxLength": 80}}, "required": ["sql"]},
}


class MaskTimer:
    """Wraps RowGrammars.__call__ to add up the time spent on the token masks."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._orig = constrained.RowGrammars.__call__

    def __enter__(self) -> MaskTimer:
        timer, orig = self, self._orig

        def timed(proc, input_ids, scores):  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            out = orig(proc, input_ids, scores)
            timer.seconds += time.perf_counter() - t
            timer.calls += 1
            return out

        constrained.RowGrammars.__call__ = timed  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        constrained.RowGrammars.__call__ = self._orig  # type: ignore[method-assign]


class StepClock:
    """A no-op logits processor that stamps the time of every decoding step of one ``generate``."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def __call__(self, input_ids, scores):  # type: ignore[no-untyped-def]
        self.stamps.append(time.perf_counter())
        return scores

    def median_ms(self) -> float:
        gaps = [b - a for a, b in zip(self.stamps, self.stamps[1:])]
        return 1000 * statistics.median(gaps) if gaps else float("nan")


def steps_of(results) -> int:  # type: ignore[no-untyped-def]
    """Decoding steps the batch ran: the longest row (its EOS counts as a step)."""
    return max(r.completion_tokens + (1 if r.finish_reason == "stop" else 0) for r in results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--new-tokens", type=int, default=48)
    ap.add_argument("--accuracy", type=int, default=12, help="held-out rows per adapter for the exact-match check (0: skip)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "structured.json")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(2)
    paths = demo_adapter_paths()
    prompts, names = [], []
    for name in SCHEMAS:
        rows = [json.loads(line) for line in open(demo_data_path(name, "test"))][:2]
        prompts += [r["input"] for r in rows]
        names += [name] * len(rows)
    schemas = [json.dumps(SCHEMAS[n]) for n in names]
    rt = AdapterRuntime(adapters=paths)
    config = GenerationConfig(max_new_tokens=args.new_tokens)
    rt.generate(prompts, names, config)  # warm-up: loads the backbone and the adapters
    rt.generate(prompts, names, config, json_schemas=schemas)  # compiles the grammars once

    runs: dict[str, list[dict[str, float]]] = {"free": [], "constrained": []}
    parsed = 0
    answers: list[str] = []
    from transformers import LogitsProcessorList

    orig_kwargs = AdapterRuntime._gen_kwargs
    clock = StepClock()

    def with_clock(self, cfg, grammars=None):  # type: ignore[no-untyped-def]
        kw = orig_kwargs(self, cfg, grammars)
        kw["logits_processor"] = LogitsProcessorList([*kw.get("logits_processor", []), clock])
        return kw

    AdapterRuntime._gen_kwargs = with_clock  # type: ignore[method-assign]
    for _ in range(args.repeats):
        for kind in ("free", "constrained"):
            clock.stamps.clear()
            with MaskTimer() as mt:
                t = time.perf_counter()
                res = rt.generate(prompts, names, config, json_schemas=schemas if kind == "constrained" else None)
                wall = time.perf_counter() - t
            tokens = sum(r.completion_tokens for r in res)
            runs[kind].append({"seconds": wall, "steps": steps_of(res), "tokens": tokens, "ms_per_step": clock.median_ms(),
                               "tokens_per_s": tokens / wall, "mask_ms_per_step": 1000 * mt.seconds / max(mt.calls, 1)})
            if kind == "constrained":
                answers = [r.text for r in res]
                parsed = sum(_parses(r.text) for r in res)

    AdapterRuntime._gen_kwargs = orig_kwargs  # type: ignore[method-assign]
    accuracy = exact_match(rt, args.accuracy) if args.accuracy > 0 else {}
    med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in runs.items()}
    report = {
        "prompts": len(prompts),
        "adapters": len(set(names)),
        "max_new_tokens": args.new_tokens,
        "repeats": args.repeats,
        "torch_threads": 2,
        "library": "xgrammar",
        "median": med,
        "constrained_vs_free_ms_per_step": med["constrained"]["ms_per_step"] / med["free"]["ms_per_step"],
        "constrained_answers_parse": f"{parsed}/{len(prompts)}",
        "constrained_answers": dict(zip([f"{n}#{i % 2}" for i, n in enumerate(names)], answers)),
        "exact_match_free_vs_constrained": accuracy,
        "all_runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    for kind, m in med.items():
        print(f"{kind:>12}: {m['ms_per_step']:.0f} ms per decoding step (masks {m['mask_ms_per_step']:.2f} ms), "
              f"{m['steps']:.0f} steps, {m['tokens']:.0f} tokens, {m['tokens_per_s']:.1f} tokens/s")
    print(f"constrained answers that parse: {parsed}/{len(prompts)}")
    for task, acc in accuracy.items():
        print(f"{task:>15}: exact match free {acc['free']}, constrained {acc['constrained']}")
    print(f"written to {args.out}")


def exact_match(rt: AdapterRuntime, n: int) -> dict[str, dict[str, str]]:
    """Per adapter: exact match of the free answer and of the constrained answer's field (first n test rows)."""
    out = {}
    for task, schema in SCHEMAS.items():
        rows = [json.loads(line) for line in open(demo_data_path(task, "test"))][:n]
        prompts, targets = [r["input"] for r in rows], [r["target"] for r in rows]
        free = rt.generate(prompts, [task] * len(rows), GenerationConfig(max_new_tokens=32))
        con = rt.generate(prompts, [task] * len(rows), GenerationConfig(max_new_tokens=48, json_schema=json.dumps(schema)))
        key = next(iter(schema["properties"]))
        f = sum((r.text.strip().splitlines() or [""])[0].strip() == t for r, t in zip(free, targets))
        c = sum(_parses(r.text) and json.loads(r.text).get(key) == t for r, t in zip(con, targets))
        out[task] = {"free": f"{f}/{len(rows)}", "constrained": f"{c}/{len(rows)}"}
    return out


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


if __name__ == "__main__":
    main()
