"""Measuring a router on labelled queries: selection accuracy, per adapter, confusion, abstention.

Plots of a report live in ``plots.py`` (matplotlib is optional and imported only there).

Rows whose label is an adapter in the index are "in scope" and score selection accuracy (the best
adapter, thresholds aside, as in the paper) and the confusion matrix. Rows whose label is not an
adapter (CLINC150's ``oos``) measure abstention: the share the router abstained on, next to the
in-scope accuracy at the same setting (an abstained in-scope row counts as wrong).
"""
from __future__ import annotations

import logging
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
    per_task: dict[str, dict[str, float | int | None]]
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
    router: AriadneRouter,
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
