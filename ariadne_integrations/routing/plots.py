"""Plots of routing evaluations: confusion matrix, score distributions, abstention curve.

Why a module of their own: matplotlib is an optional dependency; it is imported when a plot is drawn,
so evaluating a router never needs it.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ariadne_integrations.routing.evaluate import EvalReport

__all__ = ["plot_abstention_curve", "plot_confusion", "plot_score_distributions"]


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
    chosen = curve if isinstance(curve, dict) else None
    points: Sequence[dict[str, float]] = curve["curve"] if isinstance(curve, dict) else curve
    xs = [p["oos_rejection"] for p in points]
    ys = [p["in_scope_accuracy"] for p in points]
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
