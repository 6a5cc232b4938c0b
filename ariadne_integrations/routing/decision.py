"""The decision rule, as pure functions of per-adapter scores, and its result type.

Why pure: the rule (best adapter, its lead over the runner-up, abstain below a score threshold or a
margin) is the same wherever scores come from (the router's index, a selector's choice set, a
benchmark), and a function of arrays can be tested on numbers alone.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from ariadne_integrations.errors import InvalidInputError

__all__ = ["Ranking", "RouteDecision", "abstentions", "decide", "decide_top", "rank", "score_bars"]


@dataclass(frozen=True)
class RouteDecision:
    """Which adapter a query goes to, and how sure the router is.

    ``adapter`` is ``None`` when the router abstained (the backbone alone should answer).
    ``score`` is the best adapter's similarity, ``margin`` its lead over the runner-up
    (``inf``-free: a single-adapter index reports margin = score). ``scores`` maps every
    adapter in the index to its similarity, so callers can rank or threshold themselves; under ANN
    search (``search="ann"``, or ``"auto"`` on a large index) it maps only the top-k adapters
    (:data:`~ariadne_integrations.routing.centroid_index.DEFAULT_TOP_K`, best first), each with its exact
    score, and ``margin`` / ``runner_up`` come from those (when the search missed the true runner-up, the
    margin is over-stated, never under-stated).
    """

    adapter: str | None
    score: float
    margin: float
    scores: dict[str, float] = field(default_factory=dict)
    abstained: bool = False
    best: str | None = None  # top-scoring adapter even when abstained
    runner_up: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def ranked(self) -> list[tuple[str, float]]:
        """Adapters sorted by score, best first."""
        return sorted(self.scores.items(), key=lambda kv: kv[1], reverse=True)


class Ranking(NamedTuple):
    """Best and runner-up per query row (arrays of length n); ties go to the lower column."""

    best_index: np.ndarray  # (n,) column of the best adapter
    best: np.ndarray  # (n,) its score
    runner_up_index: np.ndarray | None  # (n,) column of the runner-up; None with a single adapter
    margin: np.ndarray  # (n,) best - runner-up score; the best score itself with a single adapter


def _as_rows(scores: np.ndarray) -> np.ndarray:
    s = np.asarray(scores)
    if s.ndim == 1:
        s = s[None, :]
    if s.ndim != 2 or s.shape[1] == 0:
        raise InvalidInputError(f"scores must be an (n, adapters) array with at least one adapter, got shape {s.shape}")
    return s


def rank(scores: np.ndarray) -> Ranking:
    """Best adapter, runner-up and margin for every row of ``scores`` (n, A); (A,) is one row."""
    s = _as_rows(scores)
    best_idx = s.argmax(axis=1)
    rows = np.arange(s.shape[0])
    best = s[rows, best_idx]
    if s.shape[1] > 1:
        masked = s.copy()
        masked[rows, best_idx] = -np.inf
        second_idx = masked.argmax(axis=1)
        return Ranking(best_idx, best, second_idx, best - s[rows, second_idx])
    return Ranking(best_idx, best, None, best.copy())


def score_bars(best_names: Sequence[str], threshold: float | None,
               adapter_thresholds: Mapping[str, float] | None) -> np.ndarray:
    """The score each row's best adapter needs: its own threshold when it has one, else ``threshold``.

    ``-inf`` where neither applies (no score rule for that adapter).
    """
    default = -np.inf if threshold is None else float(threshold)
    if not adapter_thresholds:
        return np.full(len(best_names), default)
    return np.array([float(adapter_thresholds.get(n, default)) for n in best_names])


def abstentions(best: np.ndarray, margin: np.ndarray, threshold: float | None, min_margin: float | None,
                best_names: Sequence[str] | None = None,
                adapter_thresholds: Mapping[str, float] | None = None) -> np.ndarray:
    """Rows to abstain on: best score below its bar or margin below ``min_margin`` (None = off).

    The bar is ``threshold``, or, for a row whose best adapter (``best_names``) has an entry in
    ``adapter_thresholds``, that adapter's own threshold (per-adapter thresholds, see
    ``AriadneRouter.calibrate(method="per_adapter")``).
    """
    abstain = np.zeros(len(best), dtype=bool)
    if adapter_thresholds:
        if best_names is None:
            raise InvalidInputError("per-adapter thresholds need the best adapter's name of every row")
        abstain |= best < score_bars(best_names, threshold, adapter_thresholds)
    elif threshold is not None:
        abstain |= best < threshold
    if min_margin is not None:
        abstain |= margin < min_margin
    return abstain


def decide(
    scores: np.ndarray,
    names: Sequence[str],
    threshold: float | None = None,
    min_margin: float | None = None,
    adapter_thresholds: Mapping[str, float] | None = None,
) -> list[RouteDecision]:
    """One :class:`RouteDecision` per row of ``scores`` (n, A), columns named by ``names``.

    The best adapter is chosen unless its score is below ``threshold`` (or below its own entry in
    ``adapter_thresholds``, which replaces ``threshold`` for that adapter) or its margin over the
    runner-up is below ``min_margin``; then the decision abstains (``adapter=None``) but still reports
    ``best``. With a single adapter the margin is its score, so ``min_margin`` applies to that.
    """
    s = _as_rows(scores)
    names = tuple(names)
    if len(names) != s.shape[1]:
        raise InvalidInputError(f"{len(names)} adapter names for {s.shape[1]} score columns")
    r = rank(s)
    best_names = [names[int(i)] for i in r.best_index]
    runner_ups = [None] * len(best_names) if r.runner_up_index is None else [names[int(i)] for i in r.runner_up_index]
    return _decisions(r.best, r.margin, best_names, runner_ups, [dict(zip(names, row)) for row in s.tolist()],
                      threshold, min_margin, adapter_thresholds)


def decide_top(
    columns: np.ndarray,
    scores: np.ndarray,
    names: Sequence[str],
    threshold: float | None = None,
    min_margin: float | None = None,
    adapter_thresholds: Mapping[str, float] | None = None,
) -> list[RouteDecision]:
    """:func:`decide` for a top-k ranking: ``columns`` (n, k) adapter columns best first, ``scores`` (n, k).

    The best adapter is column 0 and the runner-up column 1 (with k = 1: no runner-up, margin = score,
    as with a single-adapter index); each decision's ``scores`` holds those k adapters only.
    """
    cols, s = np.asarray(columns), np.asarray(scores)
    if cols.ndim != 2 or cols.shape != s.shape or cols.shape[1] == 0:
        raise InvalidInputError(f"columns and scores must be equal (n, k) arrays with k >= 1, got {cols.shape} and {s.shape}")
    names = tuple(names)
    best = s[:, 0]
    margin = best - s[:, 1] if s.shape[1] > 1 else best.copy()
    rows = [[names[int(c)] for c in row] for row in cols]
    return _decisions(best, margin, [row[0] for row in rows], [row[1] if len(row) > 1 else None for row in rows],
                      [dict(zip(row, vals)) for row, vals in zip(rows, s.tolist())], threshold, min_margin, adapter_thresholds)


def _decisions(best: np.ndarray, margin: np.ndarray, best_names: Sequence[str], runner_ups: Sequence[str | None],
               scores: Sequence[dict[str, float]], threshold: float | None, min_margin: float | None,
               adapter_thresholds: Mapping[str, float] | None) -> list[RouteDecision]:
    """The decisions of :func:`decide` and :func:`decide_top`, once each row's best, runner-up and scores are known."""
    abstain = abstentions(best, margin, threshold, min_margin, best_names, adapter_thresholds)
    return [
        RouteDecision(adapter=None if a else b, score=float(x), margin=float(m), scores=sc, abstained=bool(a),
                      best=b, runner_up=ru)
        for a, b, x, m, sc, ru in zip(abstain, best_names, best, margin, scores, runner_ups)
    ]
