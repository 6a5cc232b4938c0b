"""LangChain integration benchmark: AriadneLLM.batch vs a loop of invoke, and routing overhead.

1. ``AriadneLLM.batch`` on 16 prompts spread over 4 adapters (one routed, mixed-adapter call) vs a
   loop of ``invoke`` over the same prompts. Target: ratio >= 5x.
2. Routing overhead inside ``invoke``: time to route one query vs the whole invoke generating up to
   32 new tokens. Target: <= 5 %.

Medians of ``--repeats`` runs, side by side in one process. Uses the packaged demo pool when it
exists, else (``--random-adapters``, or automatically) 4 random-init LoRA adapters on the embedded
backbone over the demo data's routing index. Writes ``benchmarks/results/langchain.json``.

    python benchmarks/bench_langchain.py [--repeats 3] [--max-new-tokens 32] [--random-adapters]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
TASKS = ("sentiment", "support_intent", "date_iso", "sql")


def _rows(split: str) -> list[dict[str, Any]]:
    from ariadne_integrations.demo import demo_data_path

    return [json.loads(line) for line in demo_data_path(None, split).read_text(encoding="utf-8").splitlines() if line.strip()]


def random_lora_index(folder: Path) -> Path:
    """4 random-init LoRA adapters (r=8, q/v) + a routing index over the demo training inputs."""
    import torch
    from peft import LoraConfig, get_peft_model

    from ariadne_integrations.routing.router import AriadneRouter
    from ariadne_integrations.runtime.backbone import load_backbone

    model = load_backbone(None, fresh=True).model   # a private copy: the cached one stays clean
    paths = {}
    for i, task in enumerate(TASKS):
        torch.manual_seed(i)
        peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                                      init_lora_weights=False))
        peft_model.save_pretrained(folder / task)
        model = peft_model.unload()
        paths[task] = folder / task
    examples: dict[str, list[str]] = {t: [] for t in TASKS}
    for r in _rows("train"):
        examples[r["task"]].append(r["input"])
    AriadneRouter.from_examples(examples, adapter_paths=paths).save(folder / "index")
    return folder / "index"


def median_time(fn: Any, repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--random-adapters", action="store_true", help="use 4 random-init LoRA adapters even if the demo pool exists")
    ap.add_argument("--out", type=Path, default=RESULTS / "langchain.json")
    args = ap.parse_args(argv)

    import torch

    from ariadne_integrations.langchain import AriadneLLM

    pool = "demo"
    tmp = None
    index: Path | None = None
    if not args.random_adapters:
        try:
            from ariadne_integrations.demo import demo_adapter_paths, demo_index_path

            demo_adapter_paths()
            index = demo_index_path()
        except FileNotFoundError:
            index = None
    if index is None:
        pool = "random-init LoRA r=8 (demo pool not built)"
        tmp = tempfile.TemporaryDirectory(prefix="ariadne-bench-")
        print("building 4 random-init LoRA adapters ...", file=sys.stderr)
        index = random_lora_index(Path(tmp.name))

    test = _rows("test")
    prompts = [r["input"] for t in TASKS for r in [x for x in test if x["task"] == t][:4]]
    labels = [t for t in TASKS for _ in range(4)]
    llm = AriadneLLM.from_index(index, max_new_tokens=args.max_new_tokens)
    gen = llm.generator

    print("warming up (loads the embedder, the backbone and the 4 adapters) ...", file=sys.stderr)
    t = time.perf_counter()
    llm.batch(prompts[:4])
    llm.invoke(prompts[0])
    warm_s = time.perf_counter() - t

    decisions = gen.route(prompts)
    routed_ok = sum(d.adapter == lab for d, lab in zip(decisions, labels))

    def measure(fixed: bool) -> dict[str, Any]:
        """Batch vs loop and routing overhead; ``fixed`` forces exactly max_new_tokens per prompt."""
        gen_cfg = gen.backend.backbone.model.generation_config
        gen_cfg.min_new_tokens = args.max_new_tokens if fixed else None
        label = f"fixed {args.max_new_tokens} new tokens" if fixed else "natural length (stop at EOS)"
        print(f"timing batch vs loop of invoke, {label} ...", file=sys.stderr)
        t_batch, out_batch = median_time(lambda: llm.generate(prompts), args.repeats)
        t_loop, out_loop = median_time(lambda: [llm.invoke(p) for p in prompts], args.repeats)
        tokens = [g[0].generation_info["completion_tokens"] for g in out_batch.generations]
        same = sum(g[0].text == s for g, s in zip(out_batch.generations, out_loop))
        print(f"timing routing overhead inside invoke, {label} ...", file=sys.stderr)
        route_times, invoke_times, inv_tokens = [], [], []
        for p in prompts:
            for _ in range(3):
                t = time.perf_counter()
                gen.router.route(p)
                route_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            res = llm.generate([p])
            invoke_times.append(time.perf_counter() - t)
            inv_tokens.append(res.generations[0][0].generation_info["completion_tokens"])
        gen_cfg.min_new_tokens = None
        route_ms = statistics.median(route_times) * 1e3
        invoke_ms = statistics.median(invoke_times) * 1e3
        return {
            "setting": label,
            "mean_completion_tokens": round(statistics.mean(tokens), 1),
            "max_completion_tokens": max(tokens),
            "batch_s_median": round(t_batch, 3),
            "invoke_loop_s_median": round(t_loop, 3),
            "batch_speedup": round(t_loop / t_batch, 2),
            "batch_equals_loop_outputs": f"{same}/{len(prompts)}",
            "route_ms_median": round(route_ms, 2),
            "invoke_ms_median": round(invoke_ms, 1),
            "routing_overhead_pct": round(100 * route_ms / invoke_ms, 2),
        }

    settings = [measure(fixed=True), measure(fixed=False)]
    adapters_used = sorted({d.adapter or "(base)" for d in decisions})
    result = {
        "benchmark": "langchain",
        "pool": pool,
        "backbone": gen.model_name,
        "n_prompts": len(prompts),
        "adapters": adapters_used,
        "routed_to_expected_adapter": f"{routed_ok}/{len(prompts)}",
        "max_new_tokens": args.max_new_tokens,
        "repeats": args.repeats,
        "warmup_s": round(warm_s, 2),
        "batch_speedup_target": 5.0,
        "routing_overhead_target_pct": 5.0,
        "settings": settings,
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "python": platform.python_version()},
    }
    write_json(args.out, result)
    print(f"{'setting':32}{'batch (16)':>12}{'invoke loop':>13}{'speedup':>9}{'route ms':>10}{'invoke ms':>11}{'overhead':>10}")
    for r in settings:
        print(f"{r['setting']:32}{r['batch_s_median']:>11.2f}s{r['invoke_loop_s_median']:>12.2f}s{r['batch_speedup']:>8.2f}x"
              f"{r['route_ms_median']:>10.2f}{r['invoke_ms_median']:>11.0f}{r['routing_overhead_pct']:>9.2f}%")
    print("targets: batch speedup >= 5x, routing overhead <= 5 % (issue: 32 new tokens);"
          f" batch == loop outputs: {', '.join(r['batch_equals_loop_outputs'] for r in settings)}")
    print(f"routed to the expected adapter: {routed_ok}/{len(prompts)}; pool: {pool}")
    print(f"wrote {args.out}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
