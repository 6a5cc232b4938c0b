"""Mixed-adapter batching vs one call per prompt vs adapters disabled, side by side in one run.

16 prompts x 32 new tokens (greedy) routed to 4 adapters. Uses the packaged demo adapters when
present, else 4 random LoRA adapters made here. Medians of --repeats runs.

    python benchmarks/bench_generation.py [--repeats 3] [--out benchmarks/results/generation.json]

Benchmarks run with the package installed (``pip install -e .``): they import ``ariadne_integrations``
like any user code, with no path tricks.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]  # where results are written by default

from tqdm import tqdm  # noqa: E402

from ariadne_integrations.runtime.adapters import AdapterRuntime  # noqa: E402
from ariadne_integrations.runtime.backbone import load_backbone  # noqa: E402
from ariadne_integrations.runtime.generation import GenerationConfig  # noqa: E402
from ariadne_integrations.testing import make_random_lora  # noqa: E402


def adapters_and_prompts(tmp: Path) -> tuple[dict[str, Path], list[str], list[str]]:
    try:
        from ariadne_integrations.demo import demo_adapter_paths, demo_data_path

        paths = dict(list(demo_adapter_paths().items())[:4])
        prompts, names = [], []
        for name in paths:
            rows = [json.loads(line) for line in open(demo_data_path(name, "test"))][:4]
            prompts += [r["input"] for r in rows]
            names += [name] * len(rows)
        if len(paths) == 4 and len(prompts) == 16:
            return paths, prompts, names
    except Exception as exc:  # noqa: BLE001 - demo pool missing: fall back to random adapters
        print(f"(demo pool unavailable: {exc}; using random LoRA adapters)")
    paths = {f"lora{i}": make_random_lora(tmp / f"lora{i}", seed=i) for i in range(4)}
    base = ["Summarise: the meeting moved to Tuesday.", "Translate to French: good morning.",
            "Is this positive: I loved it.", "Extract the date: we met on 3 May 2021."]
    prompts = [f"{base[i % 4]} (#{i})" for i in range(16)]
    names = [f"lora{i % 4}" for i in range(16)]
    return paths, prompts, names


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "generation.json"))
    args = ap.parse_args()

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        paths, prompts, names = adapters_and_prompts(Path(tmp))
        rt = AdapterRuntime(load_backbone(), paths, max_loaded_adapters=8)
        cfg = GenerationConfig(max_new_tokens=args.new_tokens)
        # The same shared model and adapters, mixed batches through peft's own per-adapter loop.
        rt_peft = AdapterRuntime(rt.backbone, paths, max_loaded_adapters=8, fast_mixed_lora=False)
        # Force exactly N new tokens in every mode so the comparison is the same work.
        rt.backbone.model.generation_config.min_new_tokens = args.new_tokens
        rt.generate(prompts[:2], names[:2], GenerationConfig(max_new_tokens=2))  # warm-up, loads adapters
        for n in set(names):
            rt.load_adapter(n)
        modes = {
            "mixed_batch": lambda: rt.generate(prompts, names, cfg),
            "mixed_batch_peft_loop": lambda: rt_peft.generate(prompts, names, cfg),
            "one_by_one": lambda: [rt.generate([p], [a], cfg) for p, a in zip(prompts, names)],
            "adapters_disabled": lambda: rt.generate(prompts, [None] * len(prompts), cfg),
        }
        times: dict[str, list[float]] = {m: [] for m in modes}
        for _ in tqdm(range(args.repeats), desc="repeats"):
            for m, fn in modes.items():  # interleaved so load noise hits every mode alike
                times[m].append(timed(fn))
        rt.backbone.model.generation_config.min_new_tokens = None
    med = {m: statistics.median(v) for m, v in times.items()}
    result = {
        "prompts": len(prompts), "adapters": len(set(names)), "new_tokens": args.new_tokens, "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(), "median_seconds": med, "all_seconds": times,
        "speedup_mixed_vs_one_by_one": med["one_by_one"] / med["mixed_batch"],
        "mixed_speed_vs_disabled": med["adapters_disabled"] / med["mixed_batch"],
        "peft_loop_speedup_vs_one_by_one": med["one_by_one"] / med["mixed_batch_peft_loop"],
        "peft_loop_speed_vs_disabled": med["adapters_disabled"] / med["mixed_batch_peft_loop"],
        "targets": {"speedup_mixed_vs_one_by_one": ">= 5", "mixed_speed_vs_disabled": ">= 0.75"},
    }
    print(f"{'mode':<20}{'median s':>10}")
    for m, v in med.items():
        print(f"{m:<20}{v:>10.2f}")
    print(f"mixed batch vs one by one: {result['speedup_mixed_vs_one_by_one']:.2f}x faster (target >= 5x)")
    print(f"mixed batch speed / adapters disabled: {result['mixed_speed_vs_disabled']:.2f} (target >= 0.75)")
    print(f"with peft's own mixed loop: {result['peft_loop_speedup_vs_one_by_one']:.2f}x vs one by one, "
          f"{result['peft_loop_speed_vs_disabled']:.2f} of adapters disabled")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
