"""Routing benchmark: selection accuracy per strategy vs a trained reference, abstention, speed.

Run with the package installed (``pip install -e .`` in the repository), so that it measures the code
users import:

    python benchmarks/bench_routing.py [--data ../shared/benchmarks] [--cache-dir DIR] [--quick]

- Builds indices on {bbh,clinc150}/train.jsonl with every centroid strategy and reports selection
  accuracy on dev, side by side with a LogisticRegression trained on the same embeddings (the upper
  reference) and two kNN baselines. Embeddings are computed once per run (or read from --cache-dir,
  keyed by the embedder fingerprint and the file's content hash).
- CLINC150 abstention: an index on train minus a held-out 10 % slice, a threshold calibrated on that
  slice + train_oos, reported on dev (in-scope accuracy with abstain = wrong, OOS rejection).
- Peers (benchmarks/routing_peers.py), in the same process on the same vectors: semantic-router (its
  IndexedRouter + LocalIndex, one route per adapter) and LlamaIndex's EmbeddingSingleSelector (descriptions) beside
  our strategies, kNN and logistic regression, on four columns: BBH (27 adapters), CLINC150 10 domains, CLINC150
  150 intents, BBH + CLINC150 domains (37); single-query latency interleaved with semantic-router's (encoders
  included); accuracy vs training examples per adapter (10, 25, 50, 100, all), plotted to
  docs/images/routing_examples_curve.png (``--plot``).
- Speed with the default embedder (ONNX Runtime and PyTorch side by side): single-query latency p50/p95
  (embedding included), batched throughput (every run recorded, the median reported), and the centroid
  search alone at 10, 1,000 and 10,000 adapters (a CentroidIndex of synthetic centroids).

Writes benchmarks/results/routing.json. The machine is shared: absolute times are noisy; compare
ratios within one run.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import statistics
import sys
import time
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]  # default data and output paths only; imports use the installed package

from ariadne_integrations.routing.centroid_index import CentroidIndex  # noqa: E402
from ariadne_integrations.routing.data import heldout_mask  # noqa: E402
from ariadne_integrations.routing.decision import decide  # noqa: E402
from ariadne_integrations.routing.embedders import default_embedder  # noqa: E402
from ariadne_integrations.routing.router import AriadneRouter  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmark's helper modules, run as a script or imported
from plots_routing import plot_examples_curve  # noqa: E402
from routing_peers import concat_columns, make_column, print_peers, run_peers  # noqa: E402

STRATEGIES = [  # (label, strategy, centroids)
    ("paper (5 subset means)", "paper", None),
    ("mean (1 centroid)", "mean", None),
    ("kmeans k=8", "kmeans", 8),
    ("kmeans k=16", "kmeans", 16),
    ("kmeans k=ceil(sqrt n) [default]", "kmeans", None),
]


def read_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def embed_cached(emb, path: Path, texts: list[str], cache_dir: Path | None, tag: str = "") -> np.ndarray:
    """Embeddings of ``texts`` (all rows of ``path``, or the subsample ``tag`` names), cached by embedder
    fingerprint and data-file hash (bench_abstention reuses the cache)."""
    if cache_dir is not None:
        key = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        cpath = cache_dir / f"{path.parent.name}_{path.stem}_{emb.fingerprint[:12]}_{key}{tag}.npy"
        if cpath.is_file():
            return np.load(cpath)
    t = time.perf_counter()
    vecs = emb.embed(texts, show_progress=True)
    print(f"  embedded {path.parent.name}/{path.name}: {len(texts)} texts in {time.perf_counter() - t:.1f} s", flush=True)
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(cpath, vecs)
    return vecs


def knn_accuracy(xtr, ytr, xdv, ydv, names, top: int) -> float:
    """Training-free kNN baselines: per task, the mean of the top-`top` cosine similarities."""
    scores = []
    for n in names:
        s = xdv @ xtr[ytr == n].T
        k = min(top, s.shape[1])
        scores.append(np.sort(s, axis=1)[:, -k:].mean(axis=1))
    pred = np.asarray(names)[np.argmax(np.stack(scores, 1), 1)]
    return float((pred == ydv).mean())


def router_from_vectors(emb, groups: OrderedDict[str, np.ndarray], strategy: str, centroids: int | None) -> tuple[AriadneRouter, float]:
    """A router on ``emb`` whose adapters are built from precomputed vectors (no embedding here)."""
    r = AriadneRouter(emb, strategy=strategy, centroids=centroids)
    t = time.perf_counter()
    for name, vecs in groups.items():
        r.add_adapter_embeddings(name, vecs)
    return r, time.perf_counter() - t


def selection_accuracy(router: AriadneRouter, xdv: np.ndarray, ydv: np.ndarray) -> float:
    names = np.asarray(router.adapters)
    pred = names[router.scores(xdv).argmax(axis=1)]
    return float((pred == ydv).mean())


def accuracy_block(emb, data_dir: Path, ds: str, cache_dir: Path | None, quick: bool) -> dict:
    from sklearn.linear_model import LogisticRegression

    train = read_rows(data_dir / ds / "train.jsonl")
    dev = read_rows(data_dir / ds / "dev.jsonl")
    if quick:
        rng = random.Random(0)
        train, dev = rng.sample(train, min(len(train), 400)), rng.sample(dev, min(len(dev), 150))
        cache_dir = None
    xtr = embed_cached(emb, data_dir / ds / "train.jsonl", [r["input"] for r in train], cache_dir)
    xdv = embed_cached(emb, data_dir / ds / "dev.jsonl", [r["input"] for r in dev], cache_dir)
    ytr = np.array([r["task"] for r in train])
    ydv_all = np.array([r["task"] for r in dev])
    names = list(OrderedDict.fromkeys(ytr.tolist()))
    inscope = np.isin(ydv_all, names)
    xdv_in, ydv = xdv[inscope], ydv_all[inscope]
    groups = OrderedDict((n, xtr[ytr == n]) for n in names)
    out: dict = {"n_train": int(len(ytr)), "n_dev_in_scope": int(len(ydv)), "adapters": len(names), "strategies": {}}
    for label, strategy, k in STRATEGIES:
        r, secs = router_from_vectors(emb, groups, strategy, k)
        out["strategies"][label] = {
            "selection_accuracy": selection_accuracy(r, xdv_in, ydv),
            "centroids_total": int(sum(r.centroids(n).shape[0] for n in names)),
            "build_s": secs,
        }
    for top in (1, 5):
        out["strategies"][f"kNN top-{top} mean (all train points)"] = {
            "selection_accuracy": knn_accuracy(xtr, ytr, xdv_in, ydv, names, top),
            "centroids_total": int(len(ytr)),
        }
    refs = {}
    for c in (1.0, 10.0):
        t = time.perf_counter()
        lr = LogisticRegression(max_iter=3000, C=c).fit(xtr, ytr)
        refs[f"logreg C={c:g}"] = {"selection_accuracy": float((lr.predict(xdv_in) == ydv).mean()), "train_s": time.perf_counter() - t}
    out["reference"] = refs
    best_ref = max(v["selection_accuracy"] for v in refs.values())
    default = out["strategies"]["kmeans k=ceil(sqrt n) [default]"]["selection_accuracy"]
    paper = out["strategies"]["paper (5 subset means)"]["selection_accuracy"]
    out["targets"] = {
        "default_minus_best_logreg_points": round(100 * (default - best_ref), 2),
        "default_within_1_point_of_logreg": bool(default >= best_ref - 0.01),
        "default_above_paper": bool(default > paper),
    }
    out["_vectors"] = (xtr, ytr, xdv, ydv_all, names)
    out["_rows"] = (train, dev, xtr, xdv)
    return out


def abstention_block(emb, data_dir: Path, vectors, cache_dir: Path | None) -> dict:
    xtr, ytr, xdv, ydv_all, names = vectors
    oos_rows = read_rows(data_dir / "clinc150" / "train_oos.jsonl")
    xoos = embed_cached(emb, data_dir / "clinc150" / "train_oos.jsonl", [r["input"] for r in oos_rows], cache_dir)
    held = heldout_mask(ytr, share=0.1, seed=0)  # the split notebook 04 reproduces
    out = {}
    for label, strategy, k in (("default (kmeans)", "kmeans", None), ("paper", "paper", None)):
        groups = OrderedDict((n, xtr[(ytr == n) & ~held]) for n in names)
        r, _ = router_from_vectors(emb, groups, strategy, k)
        from ariadne_integrations.routing.calibration import calibrate_threshold

        dec_held = r.route_embeddings(xtr[held])
        dec_oos = r.route_embeddings(xoos)
        res = calibrate_threshold([d.score for d in dec_held], [d.best == y for d, y in zip(dec_held, ytr[held])],
                                  [d.score for d in dec_oos])
        cons = calibrate_threshold([d.score for d in dec_held], [d.best == y for d, y in zip(dec_held, ytr[held])],
                                   [d.score for d in dec_oos], target_in_scope_accuracy=res["base_in_scope_accuracy"] - 0.02)
        for point, chosen in (("balanced", res), ("max 2-point in-scope drop", cons)):
            r.set_thresholds(threshold=chosen["threshold"])
            dev = r.route_embeddings(xdv)
            ins = np.isin(ydv_all, names)
            in_acc = float(np.mean([d.adapter == y for d, y, m in zip(dev, ydv_all, ins) if m]))
            sel = float(np.mean([d.best == y for d, y, m in zip(dev, ydv_all, ins) if m]))
            oos_rej = float(np.mean([d.abstained for d, m in zip(dev, ins) if not m]))
            out[f"{label}, {point}"] = {
                "threshold": chosen["threshold"],
                "calibration": {k2: chosen[k2] for k2 in ("in_scope_accuracy", "oos_rejection", "objective", "n_in_scope", "n_oos")},
                "dev_selection_accuracy_no_threshold": sel,
                "dev_in_scope_accuracy_abstain_wrong": in_acc,
                "dev_oos_rejection": oos_rej,
                "dev_n_oos": int((~ins).sum()),
            }
    return out


def measure_batched(route_batch: Callable[[Sequence[str]], object], batch: Sequence[str], repeats: int) -> dict:
    """Time ``route_batch(batch)`` ``repeats`` times; every run is kept, the median is the figure.

    Why the median and all runs: the machine is shared, so one run can be lucky or unlucky; the JSON
    keeps each run so a reader can see the spread behind the reported number.
    """
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        route_batch(batch)
        runs.append(time.perf_counter() - t)
    median_s = statistics.median(runs)
    return {
        "queries": len(batch),
        "runs": [{"s": r, "queries_per_s": len(batch) / r} for r in runs],
        "median_s": median_s,
        "queries_per_s": len(batch) / median_s,
    }


def centroid_search(n_adapters: int, per_adapter: int, dim: int, reps: int, rng: np.random.Generator) -> dict:
    """Scoring alone, and scoring plus the decision rule, on a CentroidIndex of random unit centroids."""
    from threadpoolctl import threadpool_limits

    q1 = rng.normal(size=(1, dim)).astype(np.float32)
    q1 /= np.linalg.norm(q1)
    mats = rng.normal(size=(n_adapters, per_adapter, dim)).astype(np.float32)
    mats /= np.linalg.norm(mats, axis=-1, keepdims=True)
    index = CentroidIndex(tuple(f"a{i}" for i in range(n_adapters)), tuple(mats), dimension=dim)
    entry: dict = {"centroids": index.n_centroids}
    for blas in ("default", "1"):
        with threadpool_limits(limits=None if blas == "default" else 1, user_api="blas"):
            search, full = [], []
            for _ in range(reps):
                t = time.perf_counter()
                index.scores(q1).argmax(axis=1)
                search.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                decide(index.scores(q1), index.names)
                full.append((time.perf_counter() - t) * 1000)
        entry[f"blas_threads_{blas}"] = {"search_ms_p50": statistics.median(search), "route_decision_ms_p50": statistics.median(full)}
    return entry


def speed_block(emb, data_dir: Path, quick: bool) -> dict:
    rows = read_rows(data_dir / "clinc150" / "train.jsonl")
    dev = [r["input"] for r in read_rows(data_dir / "clinc150" / "dev.jsonl")]
    groups: OrderedDict[str, list[str]] = OrderedDict()
    for r in rows[::10]:
        groups.setdefault(r["task"], []).append(r["input"])
    # embedded once, in one pass; each backend's router is built from these vectors (the backends agree to ~1e-7)
    flat = emb.embed([t for texts in groups.values() for t in texts])
    bounds = np.cumsum([0] + [len(texts) for texts in groups.values()])
    vectors = OrderedDict((name, flat[bounds[i]:bounds[i + 1]]) for i, name in enumerate(groups))
    import torch

    from ariadne_integrations.routing.embedders import SentenceTransformerEmbedder

    default_threads = torch.get_num_threads()
    out: dict = {"load_average_at_start": os.getloadavg()[0], "torch_threads_default": default_threads, "by_threads": {}}
    # Same model, same embeddings (to ~1e-7): ONNX Runtime (the default when installed) vs PyTorch.
    # Why two PyTorch thread counts: on a loaded 2-core machine two torch threads fight the other
    # processes and a single query can take 3-5x longer than with one thread; on an idle machine two win.
    configs = [("onnx", default_threads)] if emb.onnx_encoder is not None else []
    configs += [("torch", t) for t in sorted({default_threads, 1}, reverse=True)]
    for backend, threads in configs:
        e = emb if backend == "onnx" else SentenceTransformerEmbedder(None, backend="torch")
        router, _ = router_from_vectors(e, vectors, "kmeans", None)
        torch.set_num_threads(threads)
        for q in dev[:20]:
            router.route(q)  # warm up
        n_single = 60 if quick else 300
        lat = []
        for q in dev[:n_single]:
            t = time.perf_counter()
            router.route(q)
            lat.append((time.perf_counter() - t) * 1000)
        lat.sort()
        batch = dev[: (256 if quick else 1024)]
        router.route_batch(batch[:256])  # warm up (the first multi-batch call starts the per-core workers)
        batched = measure_batched(router.route_batch, batch, 1 if quick else 5)
        emb_only = []
        for q in dev[:n_single]:
            t = time.perf_counter()
            e.embed([q])
            emb_only.append((time.perf_counter() - t) * 1000)
        out["by_threads"][f"{backend}, {threads} thread{'s' if threads > 1 else ''}"] = {
            "single_query_ms": {"p50": statistics.median(lat), "p95": lat[int(0.95 * (len(lat) - 1))], "n": len(lat),
                                "embedding_only_p50": statistics.median(emb_only)},
            "batched": batched,
        }
    torch.set_num_threads(default_threads)
    best_p50 = min(v["single_query_ms"]["p50"] for v in out["by_threads"].values())
    # the best backend's median throughput (each backend's figure is already the median of its runs)
    best_qps = max(v["batched"]["queries_per_s"] for v in out["by_threads"].values())
    # centroid search alone (synthetic unit centroids, 8 per adapter, 384-d)
    rng = np.random.default_rng(0)
    out["centroid_search"] = {str(n_ad): centroid_search(n_ad, 8, 384, 50 if n_ad < 10000 else 20, rng)
                              for n_ad in (10, 1000, 10000)}
    out["targets"] = {"best_p50_ms": best_p50, "best_queries_per_s": best_qps,
                      "p50_le_15ms": best_p50 <= 15.0, "batched_ge_500_qps": best_qps >= 500}
    return out


def peers_block(emb, rows: dict, args) -> dict:
    """semantic-router and LlamaIndex beside our strategies on four columns, the speed race and the examples curve."""
    cols = {}
    if "bbh" in rows:
        btr, bdv, bxtr, bxdv = rows["bbh"]
        cols["bbh"] = make_column("bbh", btr, bxtr, bdv, bxdv, "task")
    if "clinc150" in rows:
        ctr, cdv, cxtr, cxdv = rows["clinc150"]
        cols["clinc150 domains"] = make_column("clinc150 domains", ctr, cxtr, cdv, cxdv, "task")
        cols["clinc150 intents"] = make_column("clinc150 intents", ctr, cxtr, cdv, cxdv, "intent")
    if "bbh" in cols and "clinc150 domains" in cols:
        cols["bbh + clinc150 domains"] = concat_columns("bbh + clinc150 domains", cols["bbh"], cols["clinc150 domains"])
    li_n = args.peers_li_n if args.peers_li_n is not None else (30 if args.quick else 0)
    speed_n = args.peers_speed_n if args.peers_speed_n is not None else (10 if args.quick else 200)
    out = run_peers(emb, cols, quick=args.quick, li_n=li_n, speed_n=speed_n, seed=0, router_from_vectors=router_from_vectors,
                    selection_accuracy=selection_accuracy, knn_accuracy=knn_accuracy)
    plot = args.plot if args.plot is not None else (None if args.quick else REPO / "docs" / "images" / "routing_examples_curve.png")
    if plot is not None:
        written = plot_examples_curve(out["curve"], plot).resolve()
        out["curve_png"] = str(written.relative_to(REPO) if written.is_relative_to(REPO) else written)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "benchmarks")
    ap.add_argument("--cache-dir", type=Path, default=None, help="Reuse embeddings across runs (keyed by model + file hash).")
    ap.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/routing.json (routing_quick.json with --quick)")
    ap.add_argument("--quick", action="store_true", help="Subsample for a smoke run (figures not comparable).")
    ap.add_argument("--datasets", default="bbh,clinc150",
                    help="comma-separated subset of bbh,clinc150 (a partial run: the peer columns and speed rows of the "
                         "datasets left out are skipped)")
    ap.add_argument("--no-speed", action="store_true", help="skip the speed section (the peers' latency race still runs)")
    ap.add_argument("--no-peers", action="store_true", help="skip the semantic-router / LlamaIndex comparison")
    ap.add_argument("--peers-li-n", type=int, default=None,
                    help="dev queries per column for LlamaIndex's selector, a seeded subsample (default all; --quick 30)")
    ap.add_argument("--peers-speed-n", type=int, default=None, help="single queries timed per dataset (default 200; --quick 10)")
    ap.add_argument("--plot", type=Path, default=None,
                    help="curve PNG (default docs/images/routing_examples_curve.png; --quick: none unless given)")
    ap.add_argument("--embed-threads", type=int, default=None,
                    help="torch threads while embedding the datasets (1 is much faster on a loaded 2-core machine); "
                         "the speed section measures the default and 1 thread either way")
    args = ap.parse_args()
    if not args.data.is_dir():
        sys.exit(f"benchmark data not found at {args.data}")
    if args.out is None:
        args.out = REPO / "benchmarks" / "results" / ("routing_quick.json" if args.quick else "routing.json")
    emb = default_embedder()
    t0 = time.perf_counter()
    result: dict = {"embedder": emb.name, "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                    "note": "shared 2-core CPU: absolute times are noisy", "quick": args.quick, "accuracy": {}}
    import torch

    default_threads = torch.get_num_threads()
    if args.embed_threads:
        torch.set_num_threads(args.embed_threads)
    result["embed_threads"] = torch.get_num_threads()
    vectors: dict = {}
    rows: dict = {}
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    if not datasets or set(datasets) - {"bbh", "clinc150"}:
        ap.error("--datasets: a comma-separated subset of bbh,clinc150")
    result["datasets"] = datasets
    for ds in datasets:
        print(f"[{ds}] selection accuracy on dev", flush=True)
        block = accuracy_block(emb, args.data, ds, args.cache_dir, args.quick)
        vectors[ds] = block.pop("_vectors")
        rows[ds] = block.pop("_rows")
        result["accuracy"][ds] = block
    if "clinc150" in datasets:
        print("[clinc150] abstention", flush=True)
        result["abstention_clinc150"] = abstention_block(emb, args.data, vectors["clinc150"], None if args.quick else args.cache_dir)
    torch.set_num_threads(default_threads)
    if not args.no_speed:
        print("[speed]", flush=True)
        result["speed"] = speed_block(emb, args.data, args.quick)
    if not args.no_peers:
        print("[peers]", flush=True)
        result["peers"] = peers_block(emb, rows, args)
    result["total_s"] = time.perf_counter() - t0

    # ---- table
    print("\nSelection accuracy on dev (in-scope rows)")
    labels = [s[0] for s in STRATEGIES] + ["kNN top-1 mean (all train points)", "kNN top-5 mean (all train points)"]
    print(f"{'method':42s}" + "".join(f" {ds.upper():>9s}" for ds in datasets))
    for lab in labels:
        row = [result["accuracy"][ds]["strategies"][lab]["selection_accuracy"] for ds in datasets]
        print(f"{lab:42s}" + "".join(f" {v:9.2%}" for v in row))
    for lab in result["accuracy"][datasets[0]]["reference"]:
        row = [result["accuracy"][ds]["reference"][lab]["selection_accuracy"] for ds in datasets]
        print(f"{'trained ' + lab:42s}" + "".join(f" {v:9.2%}" for v in row))
    for ds in datasets:
        print(f"  {ds}: {result['accuracy'][ds]['targets']}")
    print("\nCLINC150 abstention (threshold calibrated on a held-out 10% of train + train_oos; reported on dev)")
    for lab, a in result.get("abstention_clinc150", {}).items():
        print(f"  {lab:38s} threshold={a['threshold']:.3f}  in-scope acc (abstain=wrong) {a['dev_in_scope_accuracy_abstain_wrong']:.2%}"
              f"  OOS rejection {a['dev_oos_rejection']:.2%}  (no threshold: {a['dev_selection_accuracy_no_threshold']:.2%})")
    sp = result.get("speed") or {"load_average_at_start": float("nan"), "by_threads": {}, "centroid_search": {}, "targets": None}
    print("\nSpeed (default embedder, CLINC queries; shared CPU, noisy)")
    print(f"  load average at start: {sp['load_average_at_start']:.2f} (2 cores)")
    for th, b in sp["by_threads"].items():
        print(f"  {th:>18}: single query route() p50 {b['single_query_ms']['p50']:.1f} ms, p95 {b['single_query_ms']['p95']:.1f} ms "
              f"(embedding alone p50 {b['single_query_ms']['embedding_only_p50']:.1f} ms); "
              f"route_batch({b['batched']['queries']}) {b['batched']['queries_per_s']:.0f} queries/s")
    for n_ad, s in sp["centroid_search"].items():
        d1, d2 = s["blas_threads_default"], s["blas_threads_1"]
        print(f"  centroid search, {int(n_ad):>6,d} adapters ({s['centroids']:>6,d} centroids): {d1['search_ms_p50']:.3f} ms "
              f"(1 BLAS thread {d2['search_ms_p50']:.3f} ms; with the full RouteDecision {d1['route_decision_ms_p50']:.3f} / "
              f"{d2['route_decision_ms_p50']:.3f} ms)")
    print(f"  targets: {sp['targets']}")
    if "peers" in result:
        print_peers(result["peers"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, args.out)
    print(f"\nwrote {args.out} ({result['total_s']:.0f} s)")


if __name__ == "__main__":
    main()
