"""Route, then generate, in one process: ONNX Runtime's spinning threads vs the PyTorch generation that follows.

ONNX Runtime's intra-op threads spin-wait for a while after each run. Routing alone is a little faster for it,
but in a process that routes a query and then answers it with the PyTorch backbone, the spinning threads hold
the cores while generation starts. This measures, on the same queries, in alternating blocks of 10: one
``route()`` (default embedder, demo index) then one ``generate`` of --new-tokens tokens with the chosen adapter,
with the ONNX sessions spinning (ONNX Runtime's default) and not (``set_onnx_spinning(False)``, what
``core.RoutedGenerator`` sets); and ``route()`` alone both ways. Medians; the first call of a block is not counted.

    python benchmarks/bench_route_then_generate.py [--queries 60] [--new-tokens 1] [--out ...]
    python benchmarks/bench_route_then_generate.py --quick --out /tmp/r.json   # smoke run (tests): 20 queries
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]

from bench_generation import cpu_info  # noqa: E402

from ariadne_integrations.routing.onnx_encoder import set_onnx_spinning  # noqa: E402

BLOCK = 10


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queries", type=int, default=60)
    ap.add_argument("--new-tokens", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="smoke run: 20 queries")
    ap.add_argument("--out", default=None, help="default benchmarks/results/route_then_generate.json")
    args = ap.parse_args()
    if args.quick:
        args.queries = 20
    out = args.out or str(ROOT / "benchmarks" / "results" / "route_then_generate.json")
    from ariadne_integrations import AriadneRouter
    from ariadne_integrations.demo import demo_adapter_paths, demo_data_path, demo_index_path
    from ariadne_integrations.runtime.adapters import AdapterRuntime
    from ariadne_integrations.runtime.generation import GenerationConfig

    router = AriadneRouter.load(demo_index_path())
    runtime = AdapterRuntime(adapters=demo_adapter_paths())
    cfg = GenerationConfig(max_new_tokens=args.new_tokens)
    queries = [json.loads(line)["input"] for name in demo_adapter_paths() for line in open(demo_data_path(name, "test"))]
    queries = queries[:: max(1, len(queries) // args.queries)][: args.queries]
    for q in queries[:3]:  # warm up: the export, the backbone, the adapters
        runtime.generate([q], [router.route(q).adapter], cfg)
    times: dict[str, dict[str, list[float]]] = {m: {"route": [], "generate": [], "route_alone": []} for m in ("spin", "no_spin")}
    picks: dict[str, dict[str, str | None]] = {"spin": {}, "no_spin": {}}  # spinning must not change a decision
    for b in range(0, len(queries), BLOCK):
        for mode in (("spin", "no_spin") if (b // BLOCK) % 2 == 0 else ("no_spin", "spin")):
            set_onnx_spinning(mode == "spin")
            for k, q in enumerate(queries[b:b + BLOCK]):
                t = time.perf_counter()
                d = router.route(q)
                t1 = time.perf_counter()
                picks[mode][q] = d.adapter
                runtime.generate([q], [d.adapter], cfg)
                t2 = time.perf_counter()
                if k:
                    times[mode]["route"].append(t1 - t)
                    times[mode]["generate"].append(t2 - t1)
            for k, q in enumerate(queries[b:b + BLOCK]):
                t = time.perf_counter()
                router.route(q)
                if k:
                    times[mode]["route_alone"].append(time.perf_counter() - t)
    med: dict[str, Any] = {m: {k: 1000 * statistics.median(v) for k, v in d.items()} for m, d in times.items()}
    result = {"cpu": cpu_info(), "quick": args.quick, "queries": len(queries), "new_tokens": args.new_tokens, "block": BLOCK,
              "same_decisions": picks["spin"] == picks["no_spin"],
              "median_ms": med,
              "generate_after_route_spin_vs_no_spin": med["spin"]["generate"] / med["no_spin"]["generate"],
              "route_alone_no_spin_vs_spin": med["no_spin"]["route_alone"] / med["spin"]["route_alone"]}
    print(cpu_info())
    for m in ("spin", "no_spin"):
        x = med[m]
        print(f"{m:8s} route {x['route']:6.2f} ms, then generate {x['generate']:7.1f} ms; route alone {x['route_alone']:6.2f} ms")
    print(f"generate after route: spinning sessions make it {result['generate_after_route_spin_vs_no_spin']:.2f}x as long; "
          f"route alone without spinning takes {result['route_alone_no_spin_vs_spin']:.2f}x as long")
    print(f"same routing decisions with and without spinning: {result['same_decisions']}")
    Path(out).write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
