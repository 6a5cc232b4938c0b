"""Peers of ARIADNE's router for ``bench_routing.py``: semantic-router and LlamaIndex's EmbeddingSingleSelector.

Everything here runs in the benchmark's process, on the same all-MiniLM-L6-v2 weights and the same data:

- **semantic-router** (``IndexedRouter`` over its ``LocalIndex``, one ``Route`` per adapter whose utterances are
  the adapter's training inputs, its defaults ``top_k=5`` and ``aggregation="mean"``, no threshold). For the
  accuracy columns its encoder is ``PrecomputedEncoder``, a ``DenseEncoder`` that looks up the vectors our
  embedder already computed for those exact texts (same weights; embedding tens of thousands of texts twice
  on a shared 2-core CPU would only repeat the same numbers), so its index, scoring and choice are its own code.
  For the timing its own ``HuggingFaceEncoder`` loads the same local model folder (what a user runs), with
  ``model_max_length=256`` (sentence-transformers' ``max_seq_length`` for this model) so that both sides embed
  the same word pieces; the timed router shares the accuracy router's index, and the JSON records how often
  the two agree on the timed queries.
- **LlamaIndex** ``EmbeddingSingleSelector`` given only one description per adapter (hand-written for CLINC150
  domains, reused from bench_llamaindex.py; the humanised adapter name elsewhere), driven through
  ``AriadneEmbedding`` over ``MemoEmbedder``: the same embedder with a text -> vector memo, so the descriptions it
  re-embeds on every call and the queries already embedded are looked up (the same vectors, affordable on the
  whole dev set; this row is not timed).
"""
from __future__ import annotations

import random
import statistics
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, List, Sequence

import numpy as np
from bench_llamaindex import DESCRIPTIONS as CLINC_DOMAIN_DESCRIPTIONS
from pydantic import PrivateAttr
from semantic_router import IndexedRouter, Route
from semantic_router.encoders import DenseEncoder
from semantic_router.index import LocalIndex
from tqdm.auto import tqdm

SR_LABEL = "semantic-router (IndexedRouter, LocalIndex, top_k=5, mean)"
LI_LABEL = "LlamaIndex EmbeddingSingleSelector (descriptions)"
DEFAULT_LABEL = "kmeans k=ceil(sqrt n) [default]"
OURS = [("paper (5 subset means)", "paper", None), ("mean (1 centroid)", "mean", None), (DEFAULT_LABEL, "kmeans", None)]
TRAINING_FREE_RIVALS = ["kNN top-1 mean (all train points)", "kNN top-5 mean (all train points)", SR_LABEL, LI_LABEL]
CURVE_SIZES: list[int | str] = [10, 25, 50, 100, "all"]
CURVE_METHODS = ["default (kmeans)", "paper", "semantic-router", "logreg C=10"]
BLOCK = 10  # queries per block in the latency race


@dataclass
class Column:
    """One accuracy column: labelled train and dev texts with their vectors."""

    name: str
    train_texts: list[str]
    ytr: np.ndarray
    xtr: np.ndarray
    dev_texts: list[str]
    ydv: np.ndarray
    xdv: np.ndarray
    descriptions: dict[str, str] = field(default_factory=dict)
    description_source: str = ""

    @property
    def names(self) -> list[str]:
        return list(OrderedDict.fromkeys(self.ytr.tolist()))


def humanise(name: str) -> str:
    """``credit_limit_change`` -> ``credit limit change``."""
    return name.replace("_", " ").strip()


def make_column(name: str, train: list[dict], xtr: np.ndarray, dev: list[dict], xdv: np.ndarray, label: str) -> Column:
    ytr = np.array([r[label] for r in train])
    known = set(ytr.tolist())
    keep = np.array([r[label] in known for r in dev], dtype=bool)  # in scope: out-of-scope (oos) rows are dropped
    dev_in = [r for r, k in zip(dev, keep) if k]
    col = Column(name, [r["input"] for r in train], ytr, xtr, [r["input"] for r in dev_in],
                 np.array([r[label] for r in dev_in]), xdv[keep])
    hand = label == "task" and set(col.names) <= set(CLINC_DOMAIN_DESCRIPTIONS)
    col.descriptions = {n: CLINC_DOMAIN_DESCRIPTIONS[n] if hand else humanise(n) for n in col.names}
    col.description_source = ("the hand-written domain descriptions of bench_llamaindex.py" if hand
                              else "the adapter name humanised ('_' -> ' ')")
    return col


def concat_columns(name: str, a: Column, b: Column) -> Column:
    col = Column(name, a.train_texts + b.train_texts, np.concatenate([a.ytr, b.ytr]), np.concatenate([a.xtr, b.xtr]),
                 a.dev_texts + b.dev_texts, np.concatenate([a.ydv, b.ydv]), np.concatenate([a.xdv, b.xdv]))
    col.descriptions = {**a.descriptions, **b.descriptions}
    col.description_source = f"{a.name}: {a.description_source}; {b.name}: {b.description_source}"
    return col


class PrecomputedEncoder(DenseEncoder):
    """A semantic-router DenseEncoder that returns vectors already computed by the same embedder, by text."""

    name: str = "precomputed all-MiniLM-L6-v2"
    type: str = "precomputed"
    _memo: dict = PrivateAttr(default_factory=dict)

    def remember(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        for t, v in zip(texts, vectors):
            self._memo[t] = v

    def __call__(self, docs: List[Any]) -> List[List[float]]:
        return [self._memo[str(d)].tolist() for d in docs]


class MemoEmbedder:
    """The Embedder protocol over ``base`` with a text -> vector memo (same vectors; repeated texts looked up)."""

    def __init__(self, base: Any) -> None:
        self.base = base
        self.name, self.dimension, self.fingerprint = base.name, base.dimension, base.fingerprint
        self.memo: dict[str, np.ndarray] = {}

    def remember(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        self.memo.update(zip(texts, vectors))

    def embed(self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if missing:
            self.remember(missing, self.base.embed(missing, batch_size=batch_size))
        return np.stack([self.memo[t] for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)


def sr_router(encoder: DenseEncoder, texts: Sequence[str], labels: Sequence[str]) -> IndexedRouter:
    """semantic-router's own build: one Route per adapter, its training inputs as utterances, a LocalIndex."""
    by: OrderedDict[str, list[str]] = OrderedDict()
    for t, y in zip(texts, labels):
        by.setdefault(str(y), []).append(t)
    return IndexedRouter(encoder=encoder, routes=[Route(name=n, utterances=u) for n, u in by.items()], index=LocalIndex())


def sr_picks(router: IndexedRouter, queries: Sequence[str]) -> list[str | None]:
    """The route ``router(q)`` returns for each query (None when it returns none).

    This is the body of semantic-router's public ``evaluate()`` (its batched ``_scores_many`` then ``_choose``
    with the router's threshold, None here), kept apart so that the queries with no route can be counted.
    """
    from semantic_router.routers.base import run

    scored = run(router._scores_many(list(queries)))
    return [getattr(router._choose(s, 1, None), "name", None) for s in scored]


def sr_accuracy(encoder: PrecomputedEncoder, col: Column, train_idx: np.ndarray | None = None) -> dict:
    idx = np.arange(len(col.ytr)) if train_idx is None else train_idx
    t = time.perf_counter()
    router = sr_router(encoder, [col.train_texts[i] for i in idx], col.ytr[idx].tolist())
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    picks = sr_picks(router, col.dev_texts)
    return {"selection_accuracy": float(np.mean([p == y for p, y in zip(picks, col.ydv)])), "n": len(picks),
            "no_route": sum(p is None for p in picks), "index_records": int(router.index.index.shape[0]),
            "build_s": build_s, "score_s": time.perf_counter() - t, "_router": router}


def li_accuracy(memo: MemoEmbedder, col: Column, n_max: int, seed: int) -> dict:
    """LlamaIndex EmbeddingSingleSelector on the descriptions; a seeded subsample of the dev rows when n_max > 0."""
    from llama_index.core.schema import QueryBundle
    from llama_index.core.selectors import EmbeddingSingleSelector
    from llama_index.core.tools import ToolMetadata

    from ariadne_integrations.llama_index import AriadneEmbedding

    names = col.names
    tools = [ToolMetadata(name=n, description=col.descriptions[n]) for n in names]
    sel = EmbeddingSingleSelector.from_defaults(embed_model=AriadneEmbedding(memo))
    rows = list(range(len(col.dev_texts)))
    if 0 < n_max < len(rows):
        rows = sorted(random.Random(seed).sample(rows, n_max))
    correct = []
    for i in tqdm(rows, desc=f"LlamaIndex selector, {col.name}", unit="q", file=sys.stderr, mininterval=5):
        pick = sel.select(tools, QueryBundle(col.dev_texts[i])).ind
        correct.append(names[pick] == col.ydv[i])
    return {"selection_accuracy": float(np.mean(correct)), "n": len(rows), "_rows": rows}


def logreg(xtr: np.ndarray, ytr: np.ndarray, xdv: np.ndarray, ydv: np.ndarray, c: float) -> dict:
    from sklearn.linear_model import LogisticRegression

    t = time.perf_counter()
    lr = LogisticRegression(max_iter=3000, C=c).fit(xtr, ytr)
    return {"selection_accuracy": float((lr.predict(xdv) == ydv).mean()), "n": len(ydv), "train_s": time.perf_counter() - t}


def column_table(emb: Any, col: Column, encoder: PrecomputedEncoder, memo: MemoEmbedder, li_n: int, seed: int,
                 router_from_vectors: Callable, selection_accuracy: Callable, knn_accuracy: Callable) -> tuple[dict, Any]:
    names = col.names
    groups = OrderedDict((n, col.xtr[col.ytr == n]) for n in names)
    methods: dict[str, dict] = {}
    default_router = None
    for label, strategy, k in OURS:
        r, _ = router_from_vectors(emb, groups, strategy, k)
        methods[label] = {"selection_accuracy": selection_accuracy(r, col.xdv, col.ydv), "n": len(col.ydv)}
        if label == DEFAULT_LABEL:
            default_router = r
    for top in (1, 5):
        methods[f"kNN top-{top} mean (all train points)"] = {
            "selection_accuracy": knn_accuracy(col.xtr, col.ytr, col.xdv, col.ydv, names, top), "n": len(col.ydv)}
    print(f"  [{col.name}] semantic-router", flush=True)
    sr = sr_accuracy(encoder, col)
    router = sr.pop("_router")
    methods[SR_LABEL] = sr
    print(f"  [{col.name}] LlamaIndex EmbeddingSingleSelector", flush=True)
    li = li_accuracy(memo, col, li_n, seed)
    rows = li.pop("_rows")
    if li["n"] < len(col.ydv):  # the default on the very same subsample, for a like-for-like comparison
        assert default_router is not None
        sub = np.asarray(rows)
        li["default_on_same_rows"] = selection_accuracy(default_router, col.xdv[sub], col.ydv[sub])
    methods[LI_LABEL] = li
    for c in (1.0, 10.0):
        methods[f"trained logreg C={c:g}"] = logreg(col.xtr, col.ytr, col.xdv, col.ydv, c)
    default = methods[DEFAULT_LABEL]["selection_accuracy"]
    beaten_by = [m for m in TRAINING_FREE_RIVALS if methods[m]["selection_accuracy"] > default]
    block = {"adapters": len(names), "n_train": len(col.ytr), "n_dev_in_scope": len(col.ydv),
             "llamaindex_descriptions": col.description_source, "methods": methods,
             "default_ge_every_training_free_rival": not beaten_by, "training_free_rivals_above_default": beaten_by}
    return block, router


def per_adapter_subsample(ytr: np.ndarray, n: int | str, seed: int) -> np.ndarray:
    """The first ``n`` of each adapter's seeded permutation of its rows (nested across n; 'all' = every row)."""
    rng = np.random.default_rng(seed)
    keep = []
    for name in OrderedDict.fromkeys(ytr.tolist()):
        idx = np.nonzero(ytr == name)[0]
        perm = rng.permutation(idx)
        keep.append(perm if n == "all" else perm[: int(n)])
    return np.sort(np.concatenate(keep))


def curve(emb: Any, col: Column, encoder: PrecomputedEncoder, sizes: Sequence[int | str], seed: int,
          router_from_vectors: Callable, selection_accuracy: Callable) -> dict:
    counts = [int((col.ytr == n).sum()) for n in col.names]
    out: dict = {"adapters": len(counts), "train_per_adapter_min_max": [min(counts), max(counts)], "points": []}
    for n in sizes:
        if n != "all" and int(n) >= max(counts):
            continue  # the same as 'all'
        idx = per_adapter_subsample(col.ytr, n, seed)
        xtr, ytr = col.xtr[idx], col.ytr[idx]
        groups = OrderedDict((a, xtr[ytr == a]) for a in col.names)
        point: dict = {"per_adapter": n, "n_train": len(idx)}
        for label, strategy in (("default (kmeans)", "kmeans"), ("paper", "paper")):
            r, _ = router_from_vectors(emb, groups, strategy, None)
            point[label] = selection_accuracy(r, col.xdv, col.ydv)
        sr = sr_accuracy(encoder, col, idx)
        point["semantic-router"] = sr["selection_accuracy"]
        point["semantic-router no_route"] = sr["no_route"]
        point["logreg C=10"] = logreg(xtr, ytr, col.xdv, col.ydv, 10.0)["selection_accuracy"]
        print(f"  curve {col.name} n={n}: " + ", ".join(f"{m} {point[m]:.4f}" for m in CURVE_METHODS), flush=True)
        out["points"].append(point)
    return out


def speed(emb: Any, col: Column, sr_index_router: IndexedRouter, n_queries: int, seed: int,
          router_from_vectors: Callable) -> dict:
    """Single-query latency, our ``router.route(q)`` vs semantic-router's ``router(q)``, encoders included: in blocks
    (the figure the target reads) and query by query (kept to show how much the other system's threads cost)."""
    from semantic_router.encoders import HuggingFaceEncoder

    from ariadne_integrations.routing.embedders import default_model_path

    t = time.perf_counter()
    hf = HuggingFaceEncoder(name=str(default_model_path()), device="cpu", tokenizer_kwargs={"model_max_length": 256})
    load_s = time.perf_counter() - t
    timed_sr = IndexedRouter(encoder=hf, index=sr_index_router.index)  # the same stored records, its own encoder
    groups = OrderedDict((n, col.xtr[col.ytr == n]) for n in col.names)
    ours, _ = router_from_vectors(emb, groups, "kmeans", None)
    rows = random.Random(seed).sample(range(len(col.dev_texts)), min(n_queries, len(col.dev_texts)))
    queries = [col.dev_texts[i] for i in rows]
    for q in queries[:5]:  # warm up both
        ours.route(q)
        timed_sr(q)
    calls = (ours.route, timed_sr)
    sr_names: list[str | None] = []

    def timed(which: int, q: str) -> float:
        t = time.perf_counter()
        out = calls[which](q)
        ms = (time.perf_counter() - t) * 1000
        if which == 1:
            sr_names.append(getattr(out, "name", None))
        return ms

    # Query by query, alternating which goes first: each call runs right after the other system's, whose thread
    # pool is still spinning (torch's OpenMP, ONNX Runtime's intra-op threads) and takes cores on a small machine.
    per_query: tuple[list[float], list[float]] = ([], [])
    for j, q in enumerate(tqdm(queries, desc=f"speed {col.name}", unit="q", file=sys.stderr, mininterval=5)):
        for which in ((0, 1) if j % 2 == 0 else (1, 0)):
            per_query[which].append(timed(which, q))
    # Blocks of BLOCK queries, alternating which system goes first; the first call of a block (the one that follows
    # the other system) is not counted, so each figure is that system running on its own, as in an application.
    blocks: tuple[list[float], list[float]] = ([], [])
    for b in range(0, len(queries), BLOCK):
        for which in ((0, 1) if (b // BLOCK) % 2 == 0 else (1, 0)):
            for k, q in enumerate(queries[b:b + BLOCK]):
                ms = timed(which, q)
                if k:
                    blocks[which].append(ms)
    t_ours, t_sr = blocks
    sr_names = sr_names[:len(queries)]
    pre = sr_picks(sr_index_router, queries)
    lens = [len(q.split()) for q in queries]
    m_ours, m_sr = statistics.median(t_ours), statistics.median(t_sr)
    m_q = statistics.median(per_query[1]) / statistics.median(per_query[0])
    return {"n": len(queries), "query_words_median": statistics.median(lens), "hf_encoder_load_s": load_s,
            "method": f"blocks of {BLOCK} queries per system, alternating, first call of each block not counted",
            "ariadne_route_ms": {"p50": m_ours, "p95": sorted(t_ours)[int(0.95 * (len(t_ours) - 1))]},
            "semantic_router_call_ms": {"p50": m_sr, "p95": sorted(t_sr)[int(0.95 * (len(t_sr) - 1))]},
            "speedup_p50": m_sr / m_ours,
            "interleaved_per_query": {"ariadne_route_ms_p50": statistics.median(per_query[0]),
                                      "semantic_router_call_ms_p50": statistics.median(per_query[1]),
                                      "speedup_p50": m_q},
            "semantic_router_hf_vs_precomputed_agreement": float(np.mean([a == b for a, b in zip(sr_names, pre)]))}


def run_peers(emb: Any, cols: dict[str, Column], *, quick: bool, li_n: int, speed_n: int, seed: int,
              router_from_vectors: Callable, selection_accuracy: Callable, knn_accuracy: Callable) -> dict:
    import semantic_router

    encoder = PrecomputedEncoder()
    memo = MemoEmbedder(emb)
    for col in cols.values():
        encoder.remember(col.train_texts, col.xtr)
        encoder.remember(col.dev_texts, col.xdv)
        memo.remember(col.dev_texts, col.xdv)
    out: dict = {
        "semantic_router": {"version": semantic_router.__version__, "router": "IndexedRouter", "index": "LocalIndex",
                            "top_k": 5, "aggregation": "mean", "threshold": None,
                            "accuracy_encoder": "PrecomputedEncoder: the vectors our embedder computed for the same texts",
                            "timing_encoder": "HuggingFaceEncoder on the same local model folder, model_max_length=256"},
        "llamaindex": {"selector": "EmbeddingSingleSelector", "embed_model": "AriadneEmbedding over the same embedder "
                       "(a text -> vector memo; not timed)", "subsample_n": li_n or "all", "seed": seed},
        "columns": {}, "curve": {}, "speed": {},
    }
    routers = {}
    for name, col in cols.items():
        print(f"[peers] {name}: {len(col.names)} adapters, {len(col.ytr)} train, {len(col.ydv)} dev", flush=True)
        out["columns"][name], routers[name] = column_table(emb, col, encoder, memo, li_n, seed, router_from_vectors,
                                                           selection_accuracy, knn_accuracy)
    sizes: Sequence[int | str] = [10, "all"] if quick else CURVE_SIZES
    for name in ("clinc150 domains", "bbh", "clinc150 intents"):
        if name in cols:
            out["curve"][name] = curve(emb, cols[name], encoder, sizes, seed, router_from_vectors, selection_accuracy)
    for name in ("clinc150 domains", "bbh"):
        if name in cols:
            print(f"[peers] speed {name}", flush=True)
            out["speed"][name] = speed(emb, cols[name], routers[name], speed_n, seed, router_from_vectors)
    sp = out["speed"]
    out["targets"] = {
        "default_ge_every_training_free_rival": {k: v["default_ge_every_training_free_rival"] for k, v in out["columns"].items()},
        "speedup_clinc150_ge_5x": bool(sp["clinc150 domains"]["speedup_p50"] >= 5) if "clinc150 domains" in sp else None,
        "speedup_bbh_ge_3x": bool(sp["bbh"]["speedup_p50"] >= 3) if "bbh" in sp else None,
    }
    return out


def print_peers(peers: dict) -> None:
    cols = list(peers["columns"])
    heads = {"bbh": "BBH", "clinc150 domains": "CLINC dom", "clinc150 intents": "CLINC int", "bbh + clinc150 domains": "BBH+CLINC"}
    print("\nPeers: selection accuracy on dev (in-scope rows; n per cell where it differs)")
    print(f"{'method':60s}" + "".join(f" {heads.get(c, c):>16s}" for c in cols))
    labels = list(peers["columns"][cols[0]]["methods"])
    for lab in labels:
        cells = []
        for c in cols:
            m = peers["columns"][c]["methods"][lab]
            s = f"{m['selection_accuracy']:.2%}"
            if m["n"] != peers["columns"][c]["n_dev_in_scope"]:
                s += f" n={m['n']}"
            cells.append(s)
        print(f"{lab:60s}" + "".join(f" {s:>16s}" for s in cells))
    print("  adapters: " + ", ".join(f"{c} {peers['columns'][c]['adapters']}" for c in cols))
    for c in cols:
        m = peers["columns"][c]["methods"]
        extra = m[LI_LABEL].get("default_on_same_rows")
        print(f"  {c}: semantic-router no-route picks {m[SR_LABEL]['no_route']}"
              + (f"; default on the LlamaIndex subsample {extra:.2%}" if extra is not None else "")
              + f"; default >= every training-free rival: {peers['columns'][c]['default_ge_every_training_free_rival']}")
    print("\nSingle-query latency, interleaved (ours: router.route(q), ONNX embedder; semantic-router: router(q), "
          "HuggingFaceEncoder)")
    for c, s in peers["speed"].items():
        print(f"  {c:18s} n={s['n']} (median {s['query_words_median']} words): ours p50 {s['ariadne_route_ms']['p50']:.1f} ms, "
              f"semantic-router p50 {s['semantic_router_call_ms']['p50']:.1f} ms -> {s['speedup_p50']:.1f}x "
              f"(its HF-encoder picks agree with the accuracy run on {s['semantic_router_hf_vs_precomputed_agreement']:.0%})")
    print("\nSelection accuracy vs training examples per adapter")
    for c, cv in peers["curve"].items():
        print(f"  {c}")
        for p in cv["points"]:
            print(f"    {p['per_adapter']!s:>4} ({p['n_train']:>6} train): "
                  + "  ".join(f"{m} {p[m]:.2%}" for m in CURVE_METHODS))
    print(f"  targets: {peers['targets']}")
