"""Scale benchmark: centroid search from 10 to 100,000 adapters, exact vs ANN (usearch), and cold start.

    python benchmarks/bench_scale.py [--adapters 10,1000,10000,100000] [--centroids-per-adapter 8] [--queries 200] [--quick]

- Synthetic, clustered, unit-norm 384-d float32 centroids: each adapter has a random unit "topic" and its
  centroids are that topic plus noise (cosine ~0.7 within an adapter, ~0 across), so top-1 is meaningful.
  Queries are a random centroid plus noise, re-normalised.
- Exact (brute force, the default): per-query p50/p95 of the search (scores + argmax) for one query and for
  batches of 64, and p50 of the full RouteDecision; index memory as the matrix's bytes and the process RSS
  delta of building the CentroidIndex.
- ANN (``search="ann"``, usearch HNSW, when installed): build time, graph memory (usearch's count and the
  RSS delta), per-query p50/p95 (one query; batches of 64) of ``top_adapters`` (retrieval plus the exact
  rescoring of candidate adapters) and of the full RouteDecision, and top-1 agreement with brute force
  (adapter of the best centroid).
- Cold start: a fresh Python that loads the demo index with ``AriadneRouter.load`` and routes one query,
  timed from process start to the first decision on its stdout; median of 3 after one warm-up run (warm
  OS and model caches).

Writes benchmarks/results/scale.json (``--out``). The machine is shared: the load average is recorded.
"""
from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]

from ariadne_integrations.routing.ann import ann_available  # noqa: E402
from ariadne_integrations.routing.centroid_index import CentroidIndex  # noqa: E402
from ariadne_integrations.routing.decision import decide, decide_top  # noqa: E402

log = logging.getLogger("bench_scale")
DIM = 384
BATCH = 64


def rss_bytes() -> int:
    """This process's resident set size (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def synthetic(n_adapters: int, per: int, n_queries: int, rng: np.random.Generator) -> tuple[list[np.ndarray], np.ndarray]:
    """Clustered unit centroids (one read-only array per adapter) and unit queries near random centroids."""
    mats: list[np.ndarray] = []
    chunk = 5000
    for start in range(0, n_adapters, chunk):
        a = min(chunk, n_adapters - start)
        topic = rng.standard_normal((a, 1, DIM), dtype=np.float32)
        topic /= np.linalg.norm(topic, axis=-1, keepdims=True)
        c = topic + (0.6 / np.sqrt(DIM)) * rng.standard_normal((a, per, DIM), dtype=np.float32)
        c /= np.linalg.norm(c, axis=-1, keepdims=True)
        for row in c:
            m = np.array(row, dtype=np.float32, order="C")
            m.setflags(write=False)
            mats.append(m)
    pick = rng.integers(0, n_adapters, n_queries)
    which = rng.integers(0, per, n_queries)
    q = np.stack([mats[a][w] for a, w in zip(pick, which)])
    q = q + (0.5 / np.sqrt(DIM)) * rng.standard_normal(q.shape, dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return mats, q.astype(np.float32)


def per_query_ms(fn: Callable[[np.ndarray], Any], queries: np.ndarray, batch: int) -> dict[str, float]:
    """p50/p95 milliseconds per query of ``fn`` over ``queries`` taken ``batch`` at a time."""
    times = []
    for s in range(0, len(queries) - batch + 1, batch):
        t = time.perf_counter()
        fn(queries[s : s + batch])
        times.append((time.perf_counter() - t) * 1000 / batch)
    return {"p50": statistics.median(times), "p95": float(np.percentile(times, 95)), "n": len(times)}


def blas1(fn: Callable[[], dict[str, float]]) -> dict[str, float]:
    """``fn()`` with BLAS limited to one thread (a loaded machine makes multi-threaded BLAS spin)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return fn()


def size_block(n_adapters: int, per: int, n_queries: int, rng: np.random.Generator, ef_sweep: list[int] | None = None) -> dict[str, Any]:
    gc.collect()
    mats, queries = synthetic(n_adapters, per, n_queries, rng)
    n_batch = max(BATCH, (min(n_queries, 4 * BATCH) // BATCH) * BATCH)
    batch_queries = np.concatenate([queries] * (n_batch // len(queries) + 1))[:n_batch]
    rss0 = rss_bytes()
    t = time.perf_counter()
    index = CentroidIndex(tuple(f"a{i}" for i in range(n_adapters)), tuple(mats), dimension=DIM)
    build_exact_s = time.perf_counter() - t
    del mats
    gc.collect()
    exact_rss = rss_bytes() - rss0
    names = index.names
    out: dict[str, Any] = {"adapters": n_adapters, "centroids": index.n_centroids, "queries": len(queries)}
    truth = index.scores(queries).argmax(axis=1)
    out["exact"] = {
        "matrix_bytes": int(index.matrix.nbytes),
        "index_rss_delta_bytes": int(exact_rss),
        "index_build_s": build_exact_s,
        "search_ms_single": per_query_ms(lambda q: index.scores(q).argmax(axis=1), queries, 1),
        "search_ms_batch64": per_query_ms(lambda q: index.scores(q).argmax(axis=1), batch_queries, BATCH),
        "search_ms_single_blas1": blas1(lambda: per_query_ms(lambda q: index.scores(q).argmax(axis=1), queries, 1)),
        "route_decision_ms_single": per_query_ms(lambda q: decide(index.scores(q), names), queries[:50], 1),
    }
    e = out["exact"]
    log.info("%7d adapters (%8d centroids) exact: %.3f ms/query p50 (p95 %.3f; 1 BLAS thread %.3f), batch64 %.3f ms/query, "
             "decision %.3f ms; matrix %.1f MB, RSS +%.1f MB", n_adapters, index.n_centroids, e["search_ms_single"]["p50"],
             e["search_ms_single"]["p95"], e["search_ms_single_blas1"]["p50"], e["search_ms_batch64"]["p50"],
             e["route_decision_ms_single"]["p50"], e["matrix_bytes"] / 1e6, exact_rss / 1e6)
    if not ann_available():
        out["ann"] = None
        log.info("usearch not installed: no ANN figures")
        return out
    ann_index = index.with_search("ann")
    gc.collect()
    rss1 = rss_bytes()
    t = time.perf_counter()
    ann_index.top_adapters(queries[:1])  # builds the graph
    ann_build = time.perf_counter() - t
    ann_rss = rss_bytes() - rss1
    got = ann_index.top_adapters(queries, k=10)[0][:, 0]
    agreement = float(np.mean(got == truth))

    def ann_decide(q: np.ndarray) -> object:
        c, s = ann_index.top_adapters(q)
        return decide_top(c, s, names)

    out["ann"] = {
        "library": "usearch",
        "params": {k: getattr(ann_index._ann.built.params, k) for k in ("connectivity", "expansion_add", "expansion_search", "dtype",
                                                                       "candidates")} if ann_index._ann.built else None,
        "build_s": ann_build,
        "memory_bytes": ann_index.ann_memory_bytes,
        "rss_delta_bytes": int(ann_rss),
        "search_ms_single": per_query_ms(lambda q: ann_index.top_adapters(q), queries, 1),
        "search_ms_batch64": per_query_ms(lambda q: ann_index.top_adapters(q), batch_queries, BATCH),
        "route_decision_ms_single": per_query_ms(ann_decide, queries[:50], 1),
        "top1_agreement": agreement,
    }
    a = out["ann"]
    built = ann_index._ann.built
    if ef_sweep and built is not None:
        default_ef = built.expansion_search
        a["expansion_search_sweep"] = {}
        for ef in ef_sweep:
            built.expansion_search = ef
            agree = float(np.mean(ann_index.top_adapters(queries)[0][:, 0] == truth))
            t = per_query_ms(lambda q: ann_index.top_adapters(q), queries, 1)
            a["expansion_search_sweep"][str(ef)] = {"top1_agreement": agree, "search_ms_single": t}
            log.info("%7d adapters ANN expansion_search=%d: top-1 agreement %.4f, %.3f ms/query p50", n_adapters, ef, agree, t["p50"])
        built.expansion_search = default_ef
    log.info("%7d adapters ANN: build %.1f s, %.1f MB (RSS +%.1f MB), %.3f ms/query p50 (p95 %.3f), batch64 %.3f ms/query, "
             "decision %.3f ms, top-1 agreement %.4f", n_adapters, ann_build, (a["memory_bytes"] or 0) / 1e6, ann_rss / 1e6,
             a["search_ms_single"]["p50"], a["search_ms_single"]["p95"], a["search_ms_batch64"]["p50"],
             a["route_decision_ms_single"]["p50"], agreement)
    return out


COLD_CHILD = """
import sys, time
from ariadne_integrations.demo import demo_index_path
from ariadne_integrations.routing.router import AriadneRouter
r = AriadneRouter.load(demo_index_path())
d = r.route("What is the capital of France?")
sys.stdout.write(f"decision {d.best} {r.embedder.name}\\n")
sys.stdout.flush()
"""


def cold_start(runs: int) -> dict[str, Any]:
    """Process start -> first routed decision of a fresh interpreter; one warm-up run, then the median of ``runs``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    times, line = [], ""
    for i in range(runs + 1):
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", COLD_CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        elapsed = time.perf_counter() - t
        _, err = proc.communicate(timeout=300)
        if not line.startswith("decision"):
            raise RuntimeError(f"cold-start child gave no decision (rc {proc.returncode}): {err[-2000:]}")
        if i:
            times.append(elapsed)
        log.info("cold start run %d%s: %.2f s (%s)", i, " (warm-up)" if i == 0 else "", elapsed, line)
    return {"median_s": statistics.median(times), "runs_s": times, "warmup_excluded": True, "child_output": line}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adapters", default="10,1000,10000,100000", help="comma-separated adapter counts")
    ap.add_argument("--centroids-per-adapter", type=int, default=8)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="small sizes and few queries, no cold start (for the test)")
    ap.add_argument("--cold-runs", type=int, default=3)
    ap.add_argument("--ef-sweep", default="", help="comma-separated HNSW expansion_search values to measure agreement/speed at")
    ap.add_argument("--no-cold-start", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "scale.json")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sizes = [int(s) for s in args.adapters.split(",") if s.strip()]
    n_queries = args.queries
    if args.quick:
        sizes = [s for s in sizes if s <= 1000] or [10, 1000]
        n_queries = min(n_queries, 32)
    load0 = os.getloadavg()
    log.info("load average at start: %.2f %.2f %.2f", *load0)
    rng = np.random.default_rng(args.seed)
    result: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average_start": list(load0)},
        "dimension": DIM,
        "centroids_per_adapter": args.centroids_per_adapter,
        "quick": args.quick,
        "ann_available": ann_available(),
        "sizes": {},
    }
    for n in sizes:
        ef = [int(x) for x in args.ef_sweep.split(",") if x.strip()]
        result["sizes"][str(n)] = size_block(n, args.centroids_per_adapter, n_queries, rng, ef)
        gc.collect()
    result["cold_start"] = None if args.quick or args.no_cold_start else cold_start(args.cold_runs)
    if result["cold_start"]:
        log.info("cold start (fresh process -> first decision, warm cache): median %.2f s", result["cold_start"]["median_s"])
    result["machine"]["load_average_end"] = list(os.getloadavg())
    log.info("load average at end: %.2f %.2f %.2f", *result["machine"]["load_average_end"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
