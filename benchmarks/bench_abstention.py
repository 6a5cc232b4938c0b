"""Abstention benchmark: cheaper ways to reject out-of-scope queries, side by side on CLINC150.

Run with the package installed (``pip install -e .`` in the repository):

    python benchmarks/bench_abstention.py [--data ../shared/benchmarks] [--cache-dir DIR] [--quick]

Setting (as the abstention table of ``bench_routing.py``): one adapter per CLINC150 domain (10), an index
(kmeans, the default strategy) on train minus a seeded held-out 10 % per domain. Every abstention rule
below is calibrated on train-side data only (the held-out slice + ``train_oos.jsonl``) and reported on dev
(in-scope accuracy with abstain = wrong, and the share of out-of-scope queries rejected). Same
embeddings for every variant (cached in ``--cache-dir``, keyed like bench_routing's).

Variants (each gives one "confidence" value per query; the router abstains below a threshold on it):

- ``global score``: the best centroid score (today's ``calibrate``);
- ``per-adapter score``: the best score standardised by its adapter's held-out in-scope scores
  ``(s - mean_a) / std_a``, i.e. one threshold per adapter ``t_a = mean_a + z * std_a`` with one shared z
  (``AriadneRouter.calibrate(..., method="per_adapter")``);
- ``margin``: best minus runner-up score;
- ``kNN top-k mean``: mean of the k highest cosine similarities to the best adapter's training points
  (needs the training points, not only the centroids);
- ``score + margin``: best score + margin (no fitted weights);
- ``whitened distance to centroids``: minus the smallest Mahalanobis distance to the router's own k-means centroids,
  under one shared covariance of the training points around their centroid (plus a ridge ``r * I``), the classic
  feature-space out-of-distribution score (Lee et al. 2018) on our centroids; ``r`` is chosen from a small grid on the
  train-side calibration split (best in-scope accuracy at >= 90 % rejection there), never on dev;
- ``logistic (score, margin, kNN, per-adapter z)``: a logistic regression fitted on held-out in-scope
  (correctly routed) vs train_oos rows (cross-fitted for calibration, refitted on all for dev). Fitted
  weights: the abstention part is then no longer strictly training-free;
- ``semantic-router``: semantic_router's IndexedRouter (top_k=5, mean aggregation; one route per domain,
  its training inputs as utterances), over the same MiniLM vectors, with its own calibration (``Calibrator.fit``,
  what ``fit`` runs: Platt-calibrated P(correct) on the held-out + train_oos) and ``confidence_threshold=0.5``;
  its score is computed for all queries in one matrix product (checked against ``IndexedRouter``'s own on a sample);
  its raw top score's curve is
  also calibrated like the others. It routes by itself (its in-scope accuracy is its own).

For each: the dev curve (in-scope accuracy vs OOS rejection), and the operating points calibration picks on
train-side data for ">= 90 % OOS rejection" and for the balanced objective (accuracy + rejection), with their
dev figures. Writes benchmarks/results/abstention.json and docs/images/abstention_curves.png.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]  # default data and output paths only; imports use the installed package

from bench_routing import embed_cached, read_rows  # noqa: E402  (sibling script: same cache files)

from ariadne_integrations.routing.calibration import (  # noqa: E402
    adapter_score_stats,
    calibrate_threshold,
    calibration_curve,
)
from ariadne_integrations.routing.data import heldout_mask  # noqa: E402
from ariadne_integrations.routing.decision import rank  # noqa: E402
from ariadne_integrations.routing.router import AriadneRouter  # noqa: E402

TARGET_REJECTION = 0.90
TARGET_COST_POINTS = 2.0
KNN_K = (5, 10)


def subsample_order(n: int) -> np.ndarray:
    """The seeded order in which ``--max-train`` takes train rows (its first N, then sorted)."""
    return np.random.default_rng(12345).permutation(n)


# ---------------------------------------------------------------------------------------------- features
def knn_to_best(x: np.ndarray, best: np.ndarray, groups: OrderedDict[str, np.ndarray], k: int) -> np.ndarray:
    """Mean of the k highest cosine similarities between each row and its best adapter's training points."""
    out = np.empty(len(x))
    for col, vecs in enumerate(groups.values()):
        rows = np.nonzero(best == col)[0]
        if rows.size:
            sims = x[rows] @ vecs.T
            kk = min(k, sims.shape[1])
            out[rows] = np.partition(sims, -kk, axis=1)[:, -kk:].mean(axis=1)
    return out


def features(router: AriadneRouter, x: np.ndarray, groups: OrderedDict[str, np.ndarray]) -> dict[str, np.ndarray]:
    r = rank(router.scores(x))
    f = {"best_index": r.best_index, "score": r.best, "margin": r.margin}
    for k in KNN_K:
        f[f"knn{k}"] = knn_to_best(x, r.best_index, groups, k)
    return f


WHITENING_RIDGES = (0.003, 0.01, 0.03, 0.1)


def cluster_statistics(router: AriadneRouter, groups: OrderedDict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The k-means clusters' means and their shared covariance: each training point joins its adapter's centroid
    nearest it; a cluster's mean is its points' mean (the centroid before normalising), and the covariance is that
    of the points around their cluster's mean."""
    means, residuals = [], []
    for name, vecs in groups.items():
        c = router.centroids(name)
        member = (vecs @ c.T).argmax(axis=1)
        for j in np.unique(member):
            pts = vecs[member == j].astype(np.float64)
            means.append(pts.mean(axis=0))
            residuals.append(pts - means[-1])
    res = np.concatenate(residuals)
    return np.stack(means), res.T @ res / len(res)


def whitened_distance(mus: np.ndarray, cov: np.ndarray, ridge: float) -> Callable[[np.ndarray], np.ndarray]:
    """x -> minus the smallest Mahalanobis distance from x to any cluster mean, under ``cov + ridge * I``."""
    prec = np.linalg.inv(cov + ridge * np.eye(cov.shape[0]))
    mu_term = ((mus @ prec) * mus).sum(axis=1)

    def value(x: np.ndarray) -> np.ndarray:
        xp = x.astype(np.float64) @ prec
        d2 = (xp * x).sum(axis=1)[:, None] - 2 * xp @ mus.T + mu_term[None, :]
        return -d2.min(axis=1)

    return value


# ---------------------------------------------------------------------------------------------- evaluation
def curve_points(in_values: np.ndarray, in_correct: np.ndarray, oos_values: np.ndarray, keep: int = 400) -> list[list[float]]:
    """The dev curve as [oos_rejection, in_scope_accuracy] pairs, thinned to about ``keep`` points."""
    c = calibration_curve(in_values, in_correct, oos_values)
    step = max(1, len(c) // keep)
    pts = c[::step] + [c[-1]]
    return [[round(p["oos_rejection"], 5), round(p["in_scope_accuracy"], 5)] for p in pts]


def dev_at(threshold: float | None, in_values: np.ndarray, in_correct: np.ndarray, oos_values: np.ndarray,
           base_acc: float) -> dict[str, float]:
    t = -np.inf if threshold is None else threshold
    acc = float(np.mean(in_correct & (in_values >= t)))
    rej = float(np.mean(oos_values < t))
    return {"in_scope_accuracy": acc, "oos_rejection": rej, "cost_points": round(100 * (base_acc - acc), 3)}


def evaluate_variant(cal: tuple[np.ndarray, np.ndarray, np.ndarray], dev: tuple[np.ndarray, np.ndarray, np.ndarray],
                     base_acc: float) -> dict[str, Any]:
    """Operating points chosen on ``cal`` (train-side) and their figures on ``dev``; the dev curve."""
    out: dict[str, Any] = {"points": {}}
    for label, kw in (("target_oos_rejection_0.9", {"target_oos_rejection": TARGET_REJECTION}), ("balanced", {})):
        ch = calibrate_threshold(*cal, **kw)
        out["points"][label] = {
            "threshold": ch["threshold"],
            "calibration": {"in_scope_accuracy": ch["in_scope_accuracy"], "oos_rejection": ch["oos_rejection"],
                            "objective": ch["objective"]},
            "dev": dev_at(ch["threshold"], *dev, base_acc),
        }
    d_in, d_ok, d_oos = dev
    curve = calibration_curve(d_in, d_ok, d_oos)
    ok = [p["in_scope_accuracy"] for p in curve if p["oos_rejection"] >= TARGET_REJECTION - 1e-12]
    out["dev_best_possible_cost_at_0.9"] = round(100 * (base_acc - max(ok)), 3) if ok else None
    out["dev_curve"] = curve_points(d_in, d_ok, d_oos)
    return out


def semantic_router_block(xtr: np.ndarray, ytr: np.ndarray, held: np.ndarray, names: list[str], xoos: np.ndarray,
                          xdv: np.ndarray, ydv: np.ndarray) -> dict[str, Any]:
    """semantic_router's IndexedRouter over the same vectors (a lookup encoder: text id -> cached vector)."""
    from semantic_router import Route
    from semantic_router.calibration import ece
    from semantic_router.encoders import DenseEncoder
    from semantic_router.routers import FitReport, IndexedRouter

    table: dict[str, np.ndarray] = {}

    def ids(prefix: str, x: np.ndarray) -> list[str]:
        keys = [f"{prefix}:{i}" for i in range(len(x))]
        table.update(zip(keys, x))
        return keys

    class LookupEncoder(DenseEncoder):  # the MiniLM vectors computed once for every variant
        def __call__(self, docs: list[Any]) -> list[list[float]]:
            return [table[d].tolist() for d in docs]

    tr_keys = ids("train", xtr)
    routes = [Route(name=n, utterances=[k for k, y, h in zip(tr_keys, ytr, held) if y == n and not h]) for n in names]
    sr = IndexedRouter(encoder=LookupEncoder(name="minilm-cached"), routes=routes)
    cal_x = ids("held", xtr[held]) + ids("oos", xoos)
    cal_y: list[str | None] = list(ytr[held]) + [None] * len(xoos)
    t = time.perf_counter()
    # IndexedRouter scores one query at a time (each one re-normalises all stored utterances): on this
    # shared 2-core machine that takes minutes, so the same score is computed here for all queries at once
    # (top_k nearest stored utterances by cosine, their mean per route, 0 for a route without a hit) and
    # checked against the router's own on a sample; fit() is semantic-router's (Calibrator.fit: Platt).
    store = np.stack([table[k] for r in routes for k in r.utterances]).astype(np.float64)
    store_names = np.array([r.name for r in routes for _ in r.utterances])
    store /= np.linalg.norm(store, axis=1, keepdims=True)

    def scores_of(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = x.astype(np.float64) / np.linalg.norm(x, axis=1, keepdims=True)
        sims = q @ store.T
        top = np.argpartition(-sims, sr.top_k, axis=1)[:, : sr.top_k]
        best, raw = [], []
        for i in range(len(q)):
            hits: dict[str, list[float]] = {n: [] for n in names}
            for j in top[i]:
                hits[str(store_names[j])].append(float(sims[i, j]))
            agg = {n: float(np.mean(v)) if v else 0.0 for n, v in hits.items()}
            b = max(agg, key=agg.__getitem__)
            best.append(b)
            raw.append(agg[b])
        return np.array(best), np.array(raw)

    from semantic_router.calibration import Calibrator
    from semantic_router.routers.base import run as sr_run

    sample = list(range(0, len(cal_x), max(1, len(cal_x) // 25)))
    own_scores = sr_run(sr._scores_many([cal_x[i] for i in sample]))
    x_cal = np.concatenate([xtr[held], xoos])
    cal_best, cal_raw = scores_of(x_cal)
    for i, sc in zip(sample, own_scores):  # the vectorised score is semantic-router's
        b = max(sc, key=lambda k: sc[k])
        assert abs(sc[b] - cal_raw[i]) < 1e-6 and (b == cal_best[i] or abs(sc[b] - sc[cal_best[i]]) < 1e-9)
    correct = np.array([b == y for b, y in zip(cal_best, cal_y)], dtype=float)
    sr.calibrator = Calibrator.fit(cal_raw, correct, "platt")  # what sr.fit(cal_x, cal_y) does
    labelled = np.array([y is not None for y in cal_y])
    report = FitReport("platt", len(cal_x), float(correct[labelled].mean()), ece(sr.calibrator(cal_raw), correct))
    dev_best, dev_raw = scores_of(xdv)
    dev_prob = np.asarray(sr.calibrator(dev_raw))
    ins = np.isin(ydv, names)
    n_held = int(held.sum())
    cal = (cal_raw[:n_held], cal_best[:n_held] == ytr[held], cal_raw[n_held:])
    dev = (dev_raw[ins], dev_best[ins] == ydv[ins], dev_raw[~ins])
    base_acc = float(np.mean(dev[1]))
    out = evaluate_variant(cal, dev, base_acc)
    out["dev_selection_accuracy"] = base_acc
    # its own operating point: calibrated P(correct) >= 0.5 (confidence_threshold=0.5)
    sr.confidence_threshold = 0.5
    own = dev_at(0.5, dev_prob[ins], dev[1], dev_prob[~ins], base_acc)
    out["points"]["own: fit() + confidence_threshold=0.5"] = {
        "threshold": 0.5, "raw_score_threshold": _platt_inverse(sr.calibrator.params, 0.5),
        "fit_report": {"method": report.method, "n": report.n, "accuracy": report.accuracy, "ece": report.ece},
        "dev": own,
    }
    out["seconds"] = time.perf_counter() - t
    return out


def _platt_inverse(params: Any, p: float) -> float | None:
    a, b = params["a"][0], params["b"][0]
    return None if a == 0 else float((np.log(p / (1 - p)) - b) / a)


def logistic_values(feat_cal: np.ndarray, y_cal: np.ndarray, feat_dev: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Cross-fitted decision values on the calibration rows, and a model on all of them for dev."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def model() -> Any:
        return make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000))

    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    cal_vals = cross_val_predict(model(), feat_cal, y_cal, cv=cv, method="decision_function")
    m = model().fit(feat_cal, y_cal)
    return cal_vals, m.decision_function(feat_dev), [float(w) for w in m[-1].coef_[0]]


def run(data_dir: Path, cache_dir: Path | None, quick: bool, with_semantic_router: bool,
        max_train: int | None = None) -> dict[str, Any]:
    from ariadne_integrations.routing.embedders import default_embedder

    emb = default_embedder()
    d = data_dir / "clinc150"
    train, dev, oos = read_rows(d / "train.jsonl"), read_rows(d / "dev.jsonl"), read_rows(d / "train_oos.jsonl")
    if quick:  # a smoke run: a subsample, embedded afresh (figures not comparable)
        rng = random.Random(0)
        train = rng.sample(train, 300)
        dev = [r for r in dev if r["intent"] != "oos"][::40] + [r for r in dev if r["intent"] == "oos"][:30]
        oos = oos[:30]
        cache_dir = None
    tag = ""
    if max_train is not None and not quick and max_train < len(train):  # a seeded subsample of train
        keep_rows = np.sort(subsample_order(len(train))[:max_train])
        train, tag = [train[i] for i in keep_rows], f"_n{max_train}"
    t = time.perf_counter()
    xtr = embed_cached(emb, d / "train.jsonl", [r["input"] for r in train], cache_dir, tag)
    xdv = embed_cached(emb, d / "dev.jsonl", [r["input"] for r in dev], cache_dir)
    xoos = embed_cached(emb, d / "train_oos.jsonl", [r["input"] for r in oos], cache_dir)
    embed_s = time.perf_counter() - t
    ytr = np.array([r["task"] for r in train])
    ydv = np.array([r["task"] for r in dev])
    names = list(OrderedDict.fromkeys(ytr.tolist()))
    held = heldout_mask(ytr.tolist())  # bench_routing's calibration split (same draws)
    groups = OrderedDict((n, xtr[(ytr == n) & ~held]) for n in names)
    router = AriadneRouter(emb)
    for n, v in groups.items():
        router.add_adapter_embeddings(n, v)
    ins = np.isin(ydv, names)
    name_arr = np.asarray(names)

    f_held, f_oos, f_dev = features(router, xtr[held], groups), features(router, xoos, groups), features(router, xdv, groups)
    held_ok = name_arr[f_held["best_index"]] == ytr[held]
    dev_ok = name_arr[f_dev["best_index"][ins]] == ydv[ins]
    base_acc = float(np.mean(dev_ok))
    # the library's per-adapter method (calibrate(method="per_adapter")): same statistics
    mu, sd = adapter_score_stats(f_held["score"], f_held["best_index"], held_ok, len(names))
    for f in (f_held, f_oos, f_dev):
        f["z"] = (f["score"] - mu[f["best_index"]]) / sd[f["best_index"]]
        f["score+margin"] = f["score"] + f["margin"]

    values: dict[str, Callable[[dict[str, np.ndarray]], np.ndarray]] = {
        "global score (today)": lambda f: f["score"],
        "per-adapter score (z)": lambda f: f["z"],
        "margin": lambda f: f["margin"],
        **{f"kNN top-{k} mean": (lambda f, k=k: f[f"knn{k}"]) for k in KNN_K},
        "score + margin": lambda f: f["score+margin"],
        "per-adapter z + margin/std": lambda f: f["z"] + f["margin"] / sd[f["best_index"]],
    }
    # the ridge of the whitened distance: chosen on the train-side split only (best in-scope accuracy at >= 90 % rejection)
    mus, cov = cluster_statistics(router, groups)
    whitened = {r: whitened_distance(mus, cov, r) for r in WHITENING_RIDGES}
    ridge_fit = {r: calibrate_threshold(fw(xtr[held]), held_ok, fw(xoos), target_oos_rejection=TARGET_REJECTION)["in_scope_accuracy"]
                 for r, fw in whitened.items()}
    ridge = max(WHITENING_RIDGES, key=lambda r: (ridge_fit[r], -r))
    whiten = whitened[ridge]
    for f, x in ((f_held, xtr[held]), (f_oos, xoos), (f_dev, xdv)):
        f["whitened"] = whiten(x)
    values["whitened distance to centroids"] = lambda f: f["whitened"]
    variants: dict[str, Any] = {}
    for label, fn in values.items():
        cal = (fn(f_held), held_ok, fn(f_oos))
        devv = (fn(f_dev)[ins], dev_ok, fn(f_dev)[~ins])
        variants[label] = evaluate_variant(cal, devv, base_acc)
    variants["whitened distance to centroids"]["ridge"] = {"chosen": ridge, "calibration_accuracy_at_0.9": ridge_fit}
    variants["per-adapter score (z)"]["per_adapter"] = {
        n: {"mean": float(m), "std": float(s)} for n, m, s in zip(names, mu, sd)}
    for pt in variants["per-adapter score (z)"]["points"].values():
        z = pt["threshold"]
        pt["adapter_thresholds"] = None if z is None else {n: float(m + z * s) for n, m, s in zip(names, mu, sd)}

    cols = ["score", "margin", f"knn{KNN_K[0]}", "z"]
    fc = np.concatenate([np.stack([f_held[c] for c in cols], 1), np.stack([f_oos[c] for c in cols], 1)])
    yc = np.concatenate([np.ones(len(f_held["score"]), int), np.zeros(len(f_oos["score"]), int)])
    # in-scope rows routed wrongly are not "should answer" examples: they are left out of the fit
    keep = np.concatenate([held_ok, np.ones(len(f_oos["score"]), bool)])
    fd = np.stack([f_dev[c] for c in cols], 1)
    cal_all, dev_vals, coef = logistic_values(fc[keep], yc[keep], fd)
    # cross-fitted values for the kept rows; the wrongly routed held-out rows get the full model's value
    from sklearn.linear_model import LogisticRegression  # noqa: F401  (imported by logistic_values)

    cal_vals = np.empty(len(yc))
    cal_vals[keep] = cal_all
    if (~keep).any():
        _, miss_vals, _ = logistic_values(fc[keep], yc[keep], fc[~keep])
        cal_vals[~keep] = miss_vals
    n_held = int(held.sum())
    lab = "logistic (score, margin, kNN-5, z) [fitted]"
    variants[lab] = evaluate_variant((cal_vals[:n_held], held_ok, cal_vals[n_held:]), (dev_vals[ins], dev_ok, dev_vals[~ins]), base_acc)
    variants[lab]["features"] = cols
    variants[lab]["coefficients_standardised"] = coef

    if with_semantic_router:
        try:
            variants["semantic-router (IndexedRouter top_k=5 mean)"] = semantic_router_block(xtr, ytr, held, names, xoos, xdv, ydv)
        except ImportError as exc:  # optional
            print(f"semantic-router skipped: {exc}", file=sys.stderr)

    summary = []
    for label, v in variants.items():
        p = v["points"]["target_oos_rejection_0.9"]
        own_base = v.get("dev_selection_accuracy", base_acc)
        summary.append({
            "variant": label,
            "threshold": p["threshold"],
            "dev_cost_points": p["dev"]["cost_points"],
            "dev_oos_rejection": p["dev"]["oos_rejection"],
            "dev_in_scope_accuracy": p["dev"]["in_scope_accuracy"],
            "dev_selection_accuracy": own_base,
            "meets_target": bool(p["dev"]["cost_points"] <= TARGET_COST_POINTS and p["dev"]["oos_rejection"] >= TARGET_REJECTION),
            "balanced_dev": v["points"]["balanced"]["dev"],
        })
    return {
        "config": {"data": str(data_dir), "quick": quick, "train_rows_used": len(train),
                   "n_train_index": int((~held).sum()), "n_held_out": int(held.sum()),
                   "n_train_oos": len(xoos), "n_dev_in_scope": int(ins.sum()), "n_dev_oos": int((~ins).sum()),
                   "adapters": len(names), "strategy": router.strategy.name, "embedder": emb.name,
                   "dimension": int(xtr.shape[1]),
                   "target": {"oos_rejection": TARGET_REJECTION, "max_cost_points": TARGET_COST_POINTS},
                   "embed_s": embed_s},
        "dev_selection_accuracy": base_acc,
        "summary": summary,
        "variants": variants,
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "load_average": os.getloadavg()[0]},
    }


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 6.5))
    for i, (label, v) in enumerate(result["variants"].items()):
        pts = np.array(v["dev_curve"])
        (line,) = ax.plot(pts[:, 0], 100 * pts[:, 1], lw=1.6, label=label, color=f"C{i}")
        for key, marker in (("target_oos_rejection_0.9", "o"), ("balanced", "s")):
            d = v["points"][key]["dev"]
            ax.plot(d["oos_rejection"], 100 * d["in_scope_accuracy"], marker, color=line.get_color(), ms=7, mec="k")
        own = v["points"].get("own: fit() + confidence_threshold=0.5")
        if own:
            ax.plot(own["dev"]["oos_rejection"], 100 * own["dev"]["in_scope_accuracy"], "^", color=line.get_color(), ms=8, mec="k")
    base = 100 * result["dev_selection_accuracy"]
    ax.axhline(base - TARGET_COST_POINTS, color="grey", ls=":", lw=1)
    ax.axvline(TARGET_REJECTION, color="grey", ls=":", lw=1)
    ax.text(0.705, base - TARGET_COST_POINTS + 0.1, f"target: cost <= {TARGET_COST_POINTS:g} points (vs {base:.2f} %)",
            fontsize=8, color="grey")
    ax.set_xlim(0.7, 1.0)
    ax.set_ylim(base - 12, base + 0.8)
    ax.set_xlabel("out-of-scope rejection on dev")
    ax.set_ylabel("in-scope accuracy on dev, % (abstain = wrong)")
    ax.set_title("CLINC150 (10 domains): abstention rules calibrated on train-side data\n"
                 "o: >= 90 % rejection target, s: balanced objective, ^: semantic-router's own P >= 0.5")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "benchmarks")
    ap.add_argument("--cache-dir", type=Path, default=None, help="Reuse embeddings across runs (keyed by model + file hash).")
    ap.add_argument("--out", type=Path, default=None,
                    help="default: benchmarks/results/abstention.json (abstention_quick.json with --quick)")
    ap.add_argument("--plot", type=Path, default=None, help="default: docs/images/abstention_curves.png (none with --quick)")
    ap.add_argument("--quick", action="store_true", help="Subsample for a smoke run (figures not comparable).")
    ap.add_argument("--no-semantic-router", action="store_true")
    ap.add_argument("--max-train", type=int, default=None,
                    help="Use a seeded random subsample of this many train rows (all 15,000 by default).")
    args = ap.parse_args()
    res = run(args.data, args.cache_dir, args.quick, not args.no_semantic_router, args.max_train)
    out = args.out or REPO / "benchmarks" / "results" / ("abstention_quick.json" if args.quick else "abstention.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    png = args.plot or (None if args.quick else REPO / "docs" / "images" / "abstention_curves.png")
    if png is not None:
        plot(res, png)
    print(f"dev selection accuracy {100 * res['dev_selection_accuracy']:.2f} %")
    print(f"{'variant':50s} {'threshold':>10s} {'cost pts':>9s} {'oos rej':>8s}  balanced (cost, rej)")
    for s in res["summary"]:
        th = "-" if s["threshold"] is None else f"{s['threshold']:.4f}"
        b = s["balanced_dev"]
        print(f"{s['variant']:50s} {th:>10s} {s['dev_cost_points']:9.2f} {100 * s['dev_oos_rejection']:7.2f}%"
              f"  ({b['cost_points']:.2f}, {100 * b['oos_rejection']:.2f}%){'  MEETS TARGET' if s['meets_target'] else ''}")
    print(f"wrote {out}" + (f" and {png}" if png else ""))


if __name__ == "__main__":
    main()
