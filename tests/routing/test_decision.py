"""The decision rule as a pure function: best, runner-up, margin, threshold and min_margin abstention."""
from __future__ import annotations

import numpy as np
import pytest

from ariadne_integrations.errors import InvalidInputError
from ariadne_integrations.routing.calibration import calibrate_scores, calibrate_threshold
from ariadne_integrations.routing.decision import abstentions, decide, rank

NAMES = ("sql", "sentiment", "weather")


def _scores(*rows: list[float]) -> np.ndarray:
    return np.asarray(rows, dtype=np.float32)


def test_best_runner_up_and_margin() -> None:
    (d,) = decide(_scores([0.5, 0.9, 0.7]), NAMES)
    assert d.adapter == "sentiment" and d.best == "sentiment" and not d.abstained
    assert d.runner_up == "weather"
    assert d.score == pytest.approx(0.9) and d.margin == pytest.approx(0.2)
    assert d.scores == pytest.approx({"sql": 0.5, "sentiment": 0.9, "weather": 0.7})


def test_one_decision_per_row_in_order() -> None:
    ds = decide(_scores([0.1, 0.2, 0.9], [0.8, 0.3, 0.2]), NAMES)
    assert [d.adapter for d in ds] == ["weather", "sql"]
    assert [d.runner_up for d in ds] == ["sentiment", "sentiment"]
    assert [d.margin for d in ds] == pytest.approx([0.7, 0.5])


def test_threshold_abstains_but_keeps_best() -> None:
    scores = _scores([0.5, 0.9, 0.7], [0.3, 0.4, 0.2])
    ds = decide(scores, NAMES, threshold=0.6)
    assert ds[0].adapter == "sentiment" and not ds[0].abstained
    assert ds[1].abstained and ds[1].adapter is None and ds[1].best == "sentiment"
    assert ds[1].score == pytest.approx(0.4)


def test_min_margin_abstains() -> None:
    scores = _scores([0.5, 0.9, 0.7])
    assert decide(scores, NAMES, min_margin=0.25)[0].abstained
    kept = decide(scores, NAMES, min_margin=0.15)[0]
    assert kept.adapter == "sentiment" and not kept.abstained
    # either rule alone is enough to abstain
    assert decide(scores, NAMES, threshold=0.1, min_margin=0.25)[0].abstained
    assert decide(scores, NAMES, threshold=0.95, min_margin=0.0)[0].abstained


def test_threshold_is_strict() -> None:
    best = np.asarray([0.5, 0.4], dtype=np.float64)
    margin = np.asarray([0.1, 0.1], dtype=np.float64)
    assert abstentions(best, margin, 0.5, None).tolist() == [False, True]
    assert abstentions(best, margin, None, None).tolist() == [False, False]
    assert abstentions(best, margin, None, 0.2).tolist() == [True, True]


def test_single_adapter_margin_is_its_score() -> None:
    (d,) = decide(_scores([0.42]), ("only",))
    assert d.adapter == "only" and d.runner_up is None and d.margin == d.score == pytest.approx(0.42)
    assert decide(_scores([0.42]), ("only",), min_margin=0.5)[0].abstained


def test_ties_go_to_the_lower_column() -> None:
    r = rank(_scores([0.3, 0.6, 0.6]))
    assert r.best_index.tolist() == [1] and r.runner_up_index.tolist() == [2]
    assert r.margin.tolist() == [0.0]
    r1 = rank(np.asarray([0.2, 0.9], np.float32))  # one row as (A,)
    assert r1.best_index.tolist() == [1] and r1.runner_up_index.tolist() == [0]
    assert rank(_scores([0.4])).runner_up_index is None


def test_bad_shapes_are_clear_errors() -> None:
    with pytest.raises(InvalidInputError):
        decide(_scores([0.1, 0.2]), NAMES)
    with pytest.raises(InvalidInputError):
        decide(np.zeros((2, 0), np.float32), ())


def test_calibrate_scores_matches_calibrate_threshold_on_the_same_values() -> None:
    scores = _scores([0.9, 0.1, 0.2], [0.2, 0.8, 0.1], [0.6, 0.55, 0.1], [0.3, 0.35, 0.2], [0.25, 0.1, 0.2])
    labels = ["sql", "sentiment", "sentiment", None, "oos"]
    got = calibrate_scores(scores, NAMES, labels)
    best = scores.max(axis=1)
    want = calibrate_threshold([float(best[i]) for i in (0, 1, 2)], [True, True, False],
                               [float(best[i]) for i in (3, 4)])
    assert got["threshold"] == want["threshold"] and got["n_in_scope"] == 3 and got["n_oos"] == 2
    # the oos rows score 0.35 and 0.25; the in-scope rows 0.9, 0.8, 0.6: a threshold between them
    assert 0.35 < got["threshold"] <= 0.6 and got["oos_rejection"] == 1.0
    by_margin = calibrate_scores(scores, NAMES, labels, by="margin")
    assert by_margin["threshold"] is None and by_margin["min_margin"] is not None
    with pytest.raises(InvalidInputError, match="no calibration label"):
        calibrate_scores(scores, NAMES, ["x"] * 5)
