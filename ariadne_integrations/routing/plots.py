"""Plots of routing evaluations: confusion matrix, score distributions, abstention curve.

Why a module of their own: matplotlib is an optional dependency; it is imported when a plot is drawn,
so evaluating a router never needs it. Every plot has a title (``title=`` replaces the default); the
score distributions and the abstention curve mark a threshold when given one (the operating point).
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ariadne_integrations.errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    from ariadne_integrations.routing.evaluate import EvalReport

__all__ = ["abstention_point", "plot_abstention_curve", "plot_confusion", "plot_score_distributions"]

_LOG_FLOOR = 1e-3
"""The smallest share the log colour scale of a normalised confusion matrix shows (one query in a thousand)."""


def _pyplot() -> Any:
    # No backend is forced: matplotlib picks Agg when headless, and notebooks keep their inline backend.
    import matplotlib.pyplot as plt

    return plt


def _finish(fig: Any, path: str | os.PathLike[str] | None) -> Any:
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        _pyplot().close(fig)
    return fig


def plot_confusion(report: EvalReport, path: str | os.PathLike[str] | None = None, *, normalize: bool = True,
                   log_scale: bool = False, title: str | None = None) -> Any:
    """Confusion matrix heat map (rows: true adapter, columns: chosen); saved to ``path`` if given.

    ``log_scale=True`` colours the cells on a logarithmic scale, so the few confusions of a router
    that is mostly right stay visible beside the diagonal (empty cells are left blank).
    """
    from matplotlib.colors import LogNorm

    plt = _pyplot()
    conf = np.asarray(report.confusion, dtype=float)
    if normalize:
        conf = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1)
    n = len(report.labels)
    size = max(4.0, 0.35 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    if log_scale:
        top = 1.0 if normalize else max(float(conf.max()), 1.0)
        floor = _LOG_FLOOR if normalize else 1.0
        im = ax.imshow(np.ma.masked_less_equal(conf, 0), cmap="Blues", norm=LogNorm(vmin=floor, vmax=top))
    else:
        im = ax.imshow(conf, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(n), report.labels, rotation=90, fontsize=7)
    ax.set_yticks(range(n), report.labels, fontsize=7)
    ax.set_xlabel("chosen adapter")
    ax.set_ylabel("true adapter")
    if title is None:
        acc = report.selection_accuracy
        title = "confusion" + (f": selection accuracy {acc:.1%}" if acc is not None else "")
        if log_scale:
            title += " (log colour scale)"
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the row" if normalize else "queries")
    return _finish(fig, path)


def plot_score_distributions(report: EvalReport, path: str | os.PathLike[str] | None = None, *,
                             threshold: float | None = None, title: str | None = None) -> Any:
    """Histograms of the best score: in scope right, in scope wrong, out of scope, with the threshold
    (``threshold``, else the report's own) as a dashed line."""
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
    ax.set_title(title if title is not None else "best-adapter score by outcome")
    ax.legend(fontsize=8)
    return _finish(fig, path)


def abstention_point(points: Sequence[Mapping[str, float]], threshold: float) -> Mapping[str, float]:
    """The curve's point that a router with ``threshold`` behaves like: the lowest candidate >= it.

    A query is abstained on when its value is below the threshold, so every threshold between two
    candidates abstains on the same queries as the upper one (``calibrate`` puts its threshold midway).
    """
    if not points:
        raise InvalidInputError("the abstention curve is empty")
    above = [p for p in points if p["threshold"] >= threshold]
    return min(above, key=lambda p: p["threshold"]) if above else points[-1]


def plot_abstention_curve(
    curve: Sequence[Mapping[str, float]] | Mapping[str, Any],
    path: str | os.PathLike[str] | None = None,
    *,
    threshold: float | None = None,
    points: Mapping[str, tuple[float, float]] | None = None,
    xlim: tuple[float, float] = (0.0, 1.0),
    ylim: tuple[float, float] = (0.0, 1.0),
    title: str | None = None,
) -> Any:
    """In-scope accuracy vs OOS rejection as the threshold rises (``calibrate()``'s result or its curve).

    The operating point is marked: the curve's point at ``threshold`` (default: the threshold of a
    ``calibrate()`` result), labelled with it. ``points`` adds labelled markers ``{label: (oos_rejection,
    in_scope_accuracy)}``, e.g. the same threshold measured on other data. ``xlim`` / ``ylim`` zoom in.
    """
    plt = _pyplot()
    result = curve if isinstance(curve, Mapping) else None
    pts: Sequence[Mapping[str, float]] = curve["curve"] if isinstance(curve, Mapping) else curve
    if threshold is None and result is not None:
        threshold = result.get("threshold")
    xs = [p["oos_rejection"] for p in pts]
    ys = [p["in_scope_accuracy"] for p in pts]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(xs, ys, "-", color="tab:blue", label="every threshold")
    if threshold is not None:
        op = abstention_point(pts, threshold)
        ax.plot([op["oos_rejection"]], [op["in_scope_accuracy"]], "o", color="tab:red",
                label=f"threshold {threshold:.3f}: in scope {op['in_scope_accuracy']:.1%}, OOS {op['oos_rejection']:.1%}")
    for (label, (x, y)), marker in zip((points or {}).items(), "sD^vP*"):
        ax.plot([x], [y], marker, color="black", fillstyle="none", markersize=8, label=f"{label}: in scope {y:.1%}, OOS {x:.1%}")
    ax.set_xlabel("out-of-scope rejection")
    ax.set_ylabel("in-scope accuracy (abstain = wrong)")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    ax.set_title(title if title is not None else "abstention: in-scope accuracy vs OOS rejection")
    ax.legend(fontsize=8, loc="lower left")
    return _finish(fig, path)
