"""Choosing an abstention threshold from held-out in-scope data and optional out-of-scope examples.

The curve: for every candidate threshold t (each observed value, plus "off"), the router abstains on
a query whose value (best score, or margin over the runner-up) is below t. Two numbers follow:

- in-scope accuracy: share of in-scope queries routed to the right adapter, abstaining counts wrong;
- OOS rejection: share of out-of-scope queries the router abstains on.

Raising t trades the first for the second. The chosen point:

- ``target_oos_rejection``: the lowest t that rejects at least that share of OOS queries;
- ``target_in_scope_accuracy``: the highest t that keeps in-scope accuracy at least that high;
- neither, with OOS examples: maximise in-scope accuracy + OOS rejection (both weigh the same);
- neither, without OOS examples: the highest t that costs at most ``max_accuracy_drop`` in-scope
  accuracy (abstain only on the clearly foreign queries).

:func:`calibrate_scores` starts from per-adapter scores of labelled queries (what
``AriadneRouter.calibrate`` hands it); :func:`calibrate_threshold` from the values themselves.

Per-adapter thresholds (:func:`calibrate_per_adapter`, ``method="per_adapter"``): adapters' score
distributions differ (a broad domain's queries score lower against its centroids than a narrow one's),
so one global threshold abstains too often on the broad adapters and too rarely on the narrow ones. Each
best score is standardised by its adapter's held-out in-scope scores, ``z = (s - mean_a) / std_a``; the
curve and the chosen point above are computed on z, and the chosen z gives every adapter its own threshold
``t_a = mean_a + z * std_a``. Still training-free (means and spreads of held-out scores, no fitted
weights). Opt-in, not the default: on CLINC150 (10 domains; ``benchmarks/bench_abstention.py``) its dev curve
is only marginally above the global threshold's (2.97 vs 3.07 points of in-scope accuracy at 90 % OOS
rejection, 100 dev OOS queries), and neither meets "<= 2 points at >= 90 %" at the point chosen on
train-side data. It helps where adapters' score levels differ widely.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ariadne_integrations.errors import InvalidInputError
from ariadne_integrations.routing.decision import rank

METHODS = ("global", "per_adapter")
MIN_PER_ADAPTER = 5
"""Fewer held-out in-scope rows routed (correctly) to an adapter than this: its mean and spread are the pooled ones."""


def calibration_curve(in_values: np.ndarray, in_correct: np.ndarray, oos_values: np.ndarray) -> list[dict[str, float]]:
    """Points (threshold, in_scope_accuracy, in_scope_coverage, oos_rejection), threshold ascending.

    The first point is threshold ``-inf`` (never abstain).
    """
    cands = np.unique(np.concatenate([in_values, oos_values]))
    thresholds = np.concatenate([[-np.inf], cands])
    ins_sorted = np.sort(in_values)
    correct_sorted = np.sort(in_values[in_correct])
    oos_sorted = np.sort(oos_values)
    n_in = max(len(in_values), 1)
    n_oos = len(oos_values)
    # values >= t are kept; searchsorted(left) counts values < t (abstained)
    kept_correct = len(correct_sorted) - np.searchsorted(correct_sorted, thresholds, side="left")
    kept_in = len(ins_sorted) - np.searchsorted(ins_sorted, thresholds, side="left")
    rejected_oos = np.searchsorted(oos_sorted, thresholds, side="left")
    curve = []
    for t, kc, ki, ro in zip(thresholds, kept_correct, kept_in, rejected_oos):
        curve.append(
            {
                "threshold": float(t),
                "in_scope_accuracy": float(kc / n_in),
                "in_scope_coverage": float(ki / n_in),
                "oos_rejection": float(ro / n_oos) if n_oos else float("nan"),
            }
        )
    return curve


def calibrate_threshold(
    in_values: Sequence[float],
    in_correct: Sequence[bool],
    oos_values: Sequence[float] = (),
    *,
    by: str = "score",
    target_oos_rejection: float | None = None,
    target_in_scope_accuracy: float | None = None,
    max_accuracy_drop: float = 0.01,
) -> dict[str, Any]:
    """Pick a threshold (see module docstring); returns the choice, its figures and the whole curve."""
    if by not in ("score", "margin"):
        raise InvalidInputError(f"by must be 'score' or 'margin', got {by!r}")
    if target_oos_rejection is not None and target_in_scope_accuracy is not None:
        raise InvalidInputError("give target_oos_rejection or target_in_scope_accuracy, not both")
    for name, val in (("target_oos_rejection", target_oos_rejection), ("target_in_scope_accuracy", target_in_scope_accuracy)):
        if val is not None and not 0.0 <= val <= 1.0:
            raise InvalidInputError(f"{name} must lie in [0, 1], got {val}")
    iv = np.asarray(in_values, dtype=np.float64)
    ic = np.asarray(in_correct, dtype=bool)
    ov = np.asarray(oos_values, dtype=np.float64)
    if iv.size == 0:
        raise InvalidInputError("calibration needs at least one in-scope example")
    if target_oos_rejection is not None and ov.size == 0:
        raise InvalidInputError("target_oos_rejection needs out-of-scope examples (oos_texts or labels not in the index)")
    curve = calibration_curve(iv, ic, ov)
    acc = np.array([p["in_scope_accuracy"] for p in curve])
    rej = np.array([p["oos_rejection"] for p in curve]) if ov.size else np.zeros(len(curve))
    base_acc = float(acc[0])
    if target_oos_rejection is not None:
        ok = np.nonzero(rej >= target_oos_rejection - 1e-12)[0]
        i = int(ok[0]) if ok.size else len(curve) - 1
        objective = f"lowest threshold with OOS rejection >= {target_oos_rejection}"
    elif target_in_scope_accuracy is not None:
        ok = np.nonzero(acc >= target_in_scope_accuracy - 1e-12)[0]
        i = int(ok[-1]) if ok.size else 0
        objective = f"highest threshold with in-scope accuracy >= {target_in_scope_accuracy}"
    elif ov.size:
        i = int(np.argmax(acc + rej))
        objective = "maximise in-scope accuracy + OOS rejection"
    else:
        ok = np.nonzero(acc >= base_acc - max_accuracy_drop - 1e-12)[0]
        i = int(ok[-1])
        objective = f"highest threshold costing <= {max_accuracy_drop} in-scope accuracy (no OOS examples)"
    chosen = curve[i]
    t = chosen["threshold"]
    if i > 0 and i < len(curve):
        # put the threshold halfway between the last abstained value and the next kept one, so that
        # a value equal to a calibration point falls on the same side as it did here
        prev = curve[i - 1]["threshold"]
        t = float((prev + t) / 2) if np.isfinite(prev) else t
        # keep every value >= the chosen candidate: midpoint lies below it and above the previous one
    value: float | None = None if not np.isfinite(t) else float(t)
    return {
        "by": by,
        "threshold": value if by == "score" else None,
        "min_margin": value if by == "margin" else None,
        "in_scope_accuracy": chosen["in_scope_accuracy"],
        "in_scope_coverage": chosen["in_scope_coverage"],
        "oos_rejection": chosen["oos_rejection"] if ov.size else None,
        "base_in_scope_accuracy": base_acc,
        "objective": objective,
        "n_in_scope": int(iv.size),
        "n_oos": int(ov.size),
        "curve": curve,
    }


def calibrate_scores(
    scores: np.ndarray,
    names: Sequence[str],
    labels: Sequence[str | None],
    *,
    by: str = "score",
    target_oos_rejection: float | None = None,
    target_in_scope_accuracy: float | None = None,
    max_accuracy_drop: float = 0.01,
) -> dict[str, Any]:
    """Pick a threshold from per-adapter ``scores`` (n, A) of labelled queries, columns named by ``names``.

    A row whose label is an adapter in ``names`` is in scope (right when its best adapter is that
    label); any other label (``None``, ``"oos"``, an adapter not in the index) makes it out of scope.
    The values are the best score (``by="score"``) or the margin over the runner-up (``by="margin"``),
    with no thresholds applied; the rest is :func:`calibrate_threshold`.
    """
    if by not in ("score", "margin"):
        raise InvalidInputError(f"by must be 'score' or 'margin', got {by!r}")
    labs = list(labels)
    s = np.asarray(scores)
    if s.ndim != 2 or s.shape[0] != len(labs) or s.shape[1] != len(names):
        raise InvalidInputError(f"scores of shape {s.shape} do not match {len(labs)} labels and {len(names)} adapters")
    known = tuple(names)
    in_scope = [i for i, lab in enumerate(labs) if lab in known]
    if not in_scope:
        raise InvalidInputError("no calibration label is an adapter in the index; labels must name adapters")
    r = rank(s)
    values = r.best if by == "score" else r.margin
    in_values = [float(values[i]) for i in in_scope]
    in_correct = [known[int(r.best_index[i])] == labs[i] for i in in_scope]
    oos_values = [float(values[i]) for i, lab in enumerate(labs) if lab not in known]
    return calibrate_threshold(
        in_values,
        in_correct,
        oos_values,
        by=by,
        target_oos_rejection=target_oos_rejection,
        target_in_scope_accuracy=target_in_scope_accuracy,
        max_accuracy_drop=max_accuracy_drop,
    )


def adapter_score_stats(best: np.ndarray, best_index: np.ndarray, correct: np.ndarray,
                        n_adapters: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each adapter's correctly routed held-out best scores.

    An adapter with fewer than :data:`MIN_PER_ADAPTER` such rows gets the pooled figures of all of them.
    """
    ok = np.asarray(correct, dtype=bool)
    pooled = best[ok] if ok.any() else best
    mu0, sd0 = float(pooled.mean()), max(float(pooled.std()), 1e-6)
    mu, sd = np.full(n_adapters, mu0), np.full(n_adapters, sd0)
    for a in range(n_adapters):
        v = best[ok & (best_index == a)]
        if v.size >= MIN_PER_ADAPTER:
            mu[a], sd[a] = float(v.mean()), max(float(v.std()), 1e-6)
    return mu, sd


def calibrate_per_adapter(
    scores: np.ndarray,
    names: Sequence[str],
    labels: Sequence[str | None],
    *,
    target_oos_rejection: float | None = None,
    target_in_scope_accuracy: float | None = None,
    max_accuracy_drop: float = 0.01,
) -> dict[str, Any]:
    """Per-adapter thresholds from per-adapter ``scores`` (n, A) of labelled queries (module docstring).

    Labels as in :func:`calibrate_scores`. The report is :func:`calibrate_threshold`'s on the standardised
    values (``z``: the chosen standardised threshold, ``curve`` over z) plus ``adapter_thresholds``
    ({adapter: threshold}, None when the choice is "never abstain"), ``adapter_stats`` and ``threshold``:
    the global method's choice for the same objective on the same data (the fallback for adapters added
    later, which have no threshold of their own).
    """
    labs = list(labels)
    s = np.asarray(scores)
    if s.ndim != 2 or s.shape[0] != len(labs) or s.shape[1] != len(names):
        raise InvalidInputError(f"scores of shape {s.shape} do not match {len(labs)} labels and {len(names)} adapters")
    known = tuple(names)
    in_scope = np.array([lab in known for lab in labs], dtype=bool)
    if not in_scope.any():
        raise InvalidInputError("no calibration label is an adapter in the index; labels must name adapters")
    r = rank(s)
    correct = np.array([known[int(b)] == lab for b, lab in zip(r.best_index, labs)], dtype=bool)
    mu, sd = adapter_score_stats(r.best[in_scope], r.best_index[in_scope], correct[in_scope], len(known))
    z = (r.best - mu[r.best_index]) / sd[r.best_index]
    kw: dict[str, Any] = dict(target_oos_rejection=target_oos_rejection, target_in_scope_accuracy=target_in_scope_accuracy,
                              max_accuracy_drop=max_accuracy_drop)
    report = calibrate_threshold(z[in_scope], correct[in_scope], z[~in_scope], **kw)
    fallback = calibrate_scores(s, known, labs, **kw)["threshold"]
    zt = report["threshold"]
    return {
        **report,
        "method": "per_adapter",
        "z": zt,
        "threshold": fallback,
        "adapter_thresholds": None if zt is None else {n: float(m + zt * d) for n, m, d in zip(known, mu, sd)},
        "adapter_stats": {n: {"mean": float(m), "std": float(d)} for n, m, d in zip(known, mu, sd)},
    }
