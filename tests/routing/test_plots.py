"""The plots mark the operating point (threshold), carry titles, zoom, and draw a log-scaled confusion matrix."""
from __future__ import annotations

import pytest

from ariadne_integrations.routing.calibration import calibrate_threshold
from ariadne_integrations.routing.evaluate import EvalReport

pytest.importorskip("matplotlib")
import matplotlib

matplotlib.use("Agg")

from ariadne_integrations.routing.plots import (
    abstention_point,
    plot_abstention_curve,
    plot_confusion,
    plot_score_distributions,
)

IN_VALUES = [0.9, 0.8, 0.7, 0.6, 0.35]
IN_CORRECT = [True, True, True, False, True]
OOS_VALUES = [0.2, 0.3, 0.4, 0.65]


def _report() -> EvalReport:
    return EvalReport(
        selection_accuracy=0.9, n=20, per_task={}, labels=["a", "b"], confusion=[[9, 1], [0, 10]],
        in_scope_accuracy=0.85, abstained_in_scope=0.05, abstain=None, threshold=0.5, min_margin=None,
        scores={"in_scope_correct": [0.8, 0.9], "in_scope_wrong": [0.4], "out_of_scope": [0.2, 0.3]},
    )


def test_abstention_point_is_the_lowest_candidate_at_or_above_the_threshold():
    res = calibrate_threshold(IN_VALUES, IN_CORRECT, OOS_VALUES)
    op = abstention_point(res["curve"], res["threshold"])
    # calibrate puts its threshold midway below the chosen candidate: the marked point is the chosen one
    assert op["in_scope_accuracy"] == res["in_scope_accuracy"] and op["oos_rejection"] == res["oos_rejection"]
    assert abstention_point(res["curve"], 0.55)["threshold"] == 0.6
    assert abstention_point(res["curve"], 5.0) == res["curve"][-1]  # above every value: the last point


def test_abstention_curve_marks_the_threshold_and_extra_points(tmp_path):
    res = calibrate_threshold(IN_VALUES, IN_CORRECT, OOS_VALUES)
    fig = plot_abstention_curve(res, points={"dev": (0.75, 0.7)}, xlim=(0.5, 1.0), ylim=(0.6, 1.0))
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.lines]
    assert labels[0] == "every threshold"
    assert labels[1].startswith(f"threshold {res['threshold']:.3f}: ")
    x, y = ax.lines[1].get_data()
    assert (x[0], y[0]) == (res["oos_rejection"], res["in_scope_accuracy"])
    assert labels[2] == "dev: in scope 70.0%, OOS 75.0%"
    assert ax.get_xlim() == (0.5, 1.0) and ax.get_ylim() == (0.6, 1.0)
    assert ax.get_title()
    # an explicit threshold wins over the result's; a bare curve with no threshold has no marker
    other = plot_abstention_curve(res["curve"], threshold=0.75).axes[0]
    assert other.lines[1].get_label().startswith("threshold 0.750: ")
    assert len(plot_abstention_curve(res["curve"]).axes[0].lines) == 1
    plot_abstention_curve(res, tmp_path / "a.png", title="custom")
    assert (tmp_path / "a.png").stat().st_size > 1000


def test_score_distributions_mark_the_threshold_and_have_a_title():
    ax = plot_score_distributions(_report(), threshold=0.42, title="mine").axes[0]
    assert ax.get_title() == "mine"
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert len(dashed) == 1 and dashed[0].get_xdata()[0] == 0.42
    ax = plot_score_distributions(_report()).axes[0]  # the report's own threshold
    assert ax.get_title() and [line.get_xdata()[0] for line in ax.lines] == [0.5]


def test_confusion_log_scale():
    from matplotlib.colors import LogNorm

    lin = plot_confusion(_report()).axes[0]
    assert not isinstance(lin.images[0].norm, LogNorm) and "selection accuracy 90.0%" in lin.get_title()
    log = plot_confusion(_report(), log_scale=True).axes[0]
    assert isinstance(log.images[0].norm, LogNorm) and "log" in log.get_title()
    assert log.images[0].get_array().mask[1, 0]  # an empty cell is blank, not log(0)
