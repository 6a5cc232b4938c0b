"""Does ``torch.compile`` speed up the fast decode loop? Eager vs compiled, side by side in one run.

Issue 16 asked for "a compiled decode step (torch.compile through inductor, or another route measured as better)".
This measures the first against the second: the same ``FastDecoder`` forward (prefill and decode steps, static KV
cache, fused products) run eagerly and wrapped in ``torch.compile(dynamic=True)`` (dynamic, so prompts of any
length and the growing attention window do not recompile), on a single stream (prompts one at a time) and a
16-prompt batch, 32 new tokens each, greedy, medians of --repeats. It also records the compile time and whether
the greedy answers stay the same. The library keeps the eager loop unless this shows compiled as faster.

    python benchmarks/bench_compile.py [--repeats 3] [--out benchmarks/results/compile.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]

from bench_generation import cpu_info  # noqa: E402

from ariadne_integrations.runtime.adapters import AdapterRuntime  # noqa: E402
from ariadne_integrations.runtime.generation import GenerationConfig  # noqa: E402

PROMPTS = ["Write a short poem about the sea.", "Explain what a database index is.", "List three fruits.",
           "What is 12 times 7?"]


def _timed(rt: AdapterRuntime, cfg: GenerationConfig, batch: bool) -> tuple[float, list[str]]:
    """(tokens/s, answers) of the prompts one at a time, or of 16 prompts in one batch."""
    start = time.perf_counter()
    if batch:
        results = rt.generate(PROMPTS * 4, [None] * 16, cfg)
    else:
        results = [rt.generate([p], [None], cfg)[0] for p in PROMPTS]
    seconds = time.perf_counter() - start
    return sum(r.completion_tokens for r in results) / seconds, [r.text for r in results]


def _measure(rt: AdapterRuntime, cfg: GenerationConfig, repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in ("single", "batch16"):
        runs = [_timed(rt, cfg, mode == "batch16") for _ in range(repeats)]
        out[mode] = {"tokens_per_s": statistics.median(r[0] for r in runs), "answers": runs[0][1]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "compile.json"))
    args = ap.parse_args()
    import torch

    cfg = GenerationConfig(max_new_tokens=32)
    rt = AdapterRuntime()
    decoder = rt._shared().fast_decoder()
    if decoder is None:
        raise SystemExit("the backbone is not served by the fast loop; nothing to compare")
    print(cpu_info())
    _timed(rt, cfg, False)  # warm-up
    eager = _measure(rt, cfg, args.repeats)
    decoder._forward = torch.compile(decoder._forward, dynamic=True)
    start = time.perf_counter()
    _timed(rt, cfg, False)
    _timed(rt, cfg, True)
    compile_s = time.perf_counter() - start
    compiled = _measure(rt, cfg, args.repeats)
    result: dict[str, Any] = {"cpu": cpu_info(), "torch": torch.__version__, "python": platform.python_version(),
                              "repeats": args.repeats, "new_tokens": 32, "compile_and_first_calls_s": compile_s}
    for mode in ("single", "batch16"):
        e, c = eager[mode], compiled[mode]
        result[mode] = {"eager_tokens_per_s": e["tokens_per_s"], "compiled_tokens_per_s": c["tokens_per_s"],
                        "compiled_vs_eager": c["tokens_per_s"] / e["tokens_per_s"],
                        "same_answers": e["answers"] == c["answers"]}
        print(f"{mode:8s} eager {e['tokens_per_s']:6.1f} tok/s, compiled {c['tokens_per_s']:6.1f} tok/s "
              f"({c['tokens_per_s'] / e['tokens_per_s']:.2f}x), same greedy answers: {e['answers'] == c['answers']}")
    print(f"compile + first calls: {compile_s:.1f} s")
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
