"""Measuring a router on labelled queries: selection accuracy, per task, confusion, abstention.

Rows whose label is an adapter in the index are "in scope" and score selection accuracy (the best
adapter, thresholds aside, as in the paper) and the confusion matrix. Rows whose label is not an
adapter (CLINC150's ``oos``) measure abstention: the share the router abstained on, next to the
in-scope accuracy at the same setting (an abstained in-scope row counts as wrong).
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ariadne_integrations.errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    from ariadne_integrations.routing.router import AriadneRouter

log = logging.getLogger(__name__)


@dataclass
class EvalReport:
    """What :func:`evaluate_router` measured; ``to_dict()`` is JSON-ready."""

    selection_accuracy: float | None
    n: int
    per_task: dict[str, dict[str, float | int]]
    labels: list[str]
    confusion: list[list[int]]  # rows = true adapter, columns = chosen adapter, in ``labels`` order
    in_scope_accuracy: float | None  # with the router's thresholds: abstaining counts as wrong
    abstained_in_scope: float | None  # share of in-scope rows abstained on
    abstain: dict[str, Any] | None  # rows whose label is not an adapter (None when there are none)
    threshold: float | None
    min_margin: float | None
    scores: dict[str, list[float]] = field(default_factory=dict, repr=False)  # best score per row group, for plots

    def to_dict(self, *, include_scores: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not include_scores:
            d.pop("scores")
        return d


def evaluate_router(
    router: "AriadneRouter",
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    batch_size: int = 32,
) -> EvalReport:
    """Route ``texts`` in one batch and compare with ``labels`` (see module docstring)."""
    labels = list(labels)
    texts = list(texts)
    if len(texts) != len(labels):
        raise InvalidInputError(f"texts and labels differ in length ({len(texts)} vs {len(labels)})")
    decisions = router.route_batch(texts, batch_size=batch_size)
    names = router.adapters
    index = {n: i for i, n in enumerate(names)}
    conf = np.zeros((len(names), len(names)), dtype=np.int64)
    n_in = correct_sel = correct_thr = abst_in = 0
    oos_n = oos_abst = 0
    per: dict[str, list[int]] = {n: [0, 0] for n in names}
    in_scores_right: list[float] = []
    in_scores_wrong: list[float] = []
    oos_scores: list[float] = []
    for d, lab in zip(decisions, labels):
        if lab in index:
            n_in += 1
            ok = d.best == lab
            correct_sel += ok
            correct_thr += (d.adapter == lab)
            abst_in += d.abstained
            per[lab][0] += ok
            per[lab][1] += 1
            conf[index[lab], index[d.best]] += 1  # type: ignore[index]
            (in_scores_right if ok else in_scores_wrong).append(d.score)
        else:
            oos_n += 1
            oos_abst += d.abstained
            oos_scores.append(d.score)
    per_task = {n: {"accuracy": (c / t if t else None), "n": t} for n, (c, t) in per.items() if t}
    abstain = None
    if oos_n:
        abstain = {
            "oos_abstained": oos_abst / oos_n,
            "in_scope_accuracy": correct_thr / n_in if n_in else None,
            "in_scope_abstained": abst_in / n_in if n_in else None,
            "n": oos_n,
            "labels": sorted({lab for lab in labels if lab not in index}),
        }
    return EvalReport(
        selection_accuracy=correct_sel / n_in if n_in else None,
        n=n_in,
        per_task=per_task,
        labels=list(names),
        confusion=conf.tolist(),
        in_scope_accuracy=correct_thr / n_in if n_in else None,
        abstained_in_scope=abst_in / n_in if n_in else None,
        abstain=abstain,
        threshold=router.threshold,
        min_margin=router.min_margin,
        scores={"in_scope_correct": in_scores_right, "in_scope_wrong": in_scores_wrong, "out_of_scope": oos_scores},
    )


# ---------------------------------------------------------------------- plots (matplotlib, lazily)
def _pyplot() -> Any:
    # No backend is forced: matplotlib picks Agg when headless, and notebooks keep their inline backend.
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(report: EvalReport, path: str | os.PathLike[str] | None = None, *, normalize: bool = True) -> Any:
    """Confusion matrix heat map (rows: true adapter, columns: chosen); saved to ``path`` if given."""
    plt = _pyplot()
    conf = np.asarray(report.confusion, dtype=float)
    if normalize:
        conf = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1)
    n = len(report.labels)
    size = max(4.0, 0.35 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(conf, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(n), report.labels, rotation=90, fontsize=7)
    ax.set_yticks(range(n), report.labels, fontsize=7)
    ax.set_xlabel("chosen adapter")
    ax.set_ylabel("true adapter")
    acc = report.selection_accuracy
    ax.set_title(f"selection accuracy {acc:.1%}" if acc is not None else "confusion")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig


def plot_score_distributions(report: EvalReport, path: str | os.PathLike[str] | None = None, *, threshold: float | None = None) -> Any:
    """Histograms of the best score: in scope right, in scope wrong, out of scope (with the threshold)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, colour in (("in_scope_correct", "tab:green"), ("in_scope_wrong", "tab:orange"), ("out_of_scope", "tab:red")):
        vals = report.scores.get(key) or []
        if vals:
            ax.hist(vals, bins=40, alpha=0.5, color=colour, label=f"{key.replace('_', ' ')} (n={len(vals)})", density=True)
    t = threshold if threshold is not None else report.threshold
    if t is not None:
        ax.axvline(t, color="black", linestyle="--", label=f"threshold {t:.3f}")
    ax.set_xlabel("best adapter score (cosine)")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig


def plot_abstention_curve(curve: Sequence[dict[str, float]] | dict[str, Any], path: str | os.PathLike[str] | None = None) -> Any:
    """In-scope accuracy vs OOS rejection as the threshold rises (``calibrate()``'s result or its curve)."""
    plt = _pyplot()
    chosen = None
    if isinstance(curve, dict):
        chosen = curve
        curve = curve["curve"]
    xs = [p["oos_rejection"] for p in curve]
    ys = [p["in_scope_accuracy"] for p in curve]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(xs, ys, "-", color="tab:blue")
    if chosen is not None and chosen.get("oos_rejection") is not None:
        ax.plot([chosen["oos_rejection"]], [chosen["in_scope_accuracy"]], "o", color="tab:red", label="chosen")
        ax.legend()
    ax.set_xlabel("out-of-scope rejection")
    ax.set_ylabel("in-scope accuracy (abstain = wrong)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
