"""Routing quality on real data subsets (BBH tasks, CLINC150 domains), abstention on real OOS queries."""
from __future__ import annotations

import pytest

from ariadne_integrations.routing.data import group_by_label
from ariadne_integrations.routing.evaluate import evaluate_router
from ariadne_integrations.routing.router import AriadneRouter


@pytest.fixture(scope="module")
def clinc_router(embedder, clinc_subset):
    train, _, _, _ = clinc_subset
    return AriadneRouter.from_examples(group_by_label(train), embedder=embedder)


def test_bbh_subset_routes_above_floor(embedder, bbh_subset) -> None:
    train, dev = bbh_subset
    router = AriadneRouter.from_examples(group_by_label(train), embedder=embedder)
    assert len(router.adapters) == 27
    rep = evaluate_router(router, [t for t, _ in dev], [lab for _, lab in dev])
    assert rep.n == len(dev) and rep.abstain is None
    assert rep.selection_accuracy >= 0.9, rep.per_task
    assert sum(map(sum, rep.confusion)) == rep.n


def test_clinc_default_beats_paper_and_floor(embedder, clinc_subset, clinc_router) -> None:
    train, dev, _, _ = clinc_subset
    texts, labels = [t for t, _ in dev], [lab for _, lab in dev]
    default = evaluate_router(clinc_router, texts, labels).selection_accuracy
    paper = evaluate_router(AriadneRouter.from_examples(group_by_label(train), embedder=embedder, strategy="paper"),
                            texts, labels).selection_accuracy
    assert default >= 0.88
    assert default >= paper  # several centroids per domain >= one mean (150 inputs -> 1 paper centroid)


def test_calibrated_abstention_rejects_real_oos(embedder, clinc_subset, clinc_router) -> None:
    _, dev, held, oos = clinc_subset
    router = AriadneRouter.from_examples(group_by_label(clinc_subset[0]), embedder=embedder)
    assert [router.centroids(n).shape for n in router.adapters] == [clinc_router.centroids(n).shape for n in router.adapters]
    res = router.calibrate([t for t, _ in held], [lab for _, lab in held], oos[:60])
    assert res["threshold"] is not None and router.threshold == res["threshold"]
    assert res["oos_rejection"] > 0.3 and res["in_scope_accuracy"] > 0.7
    curve = res["curve"]
    assert curve[0]["oos_rejection"] == 0.0 and curve[0]["in_scope_accuracy"] == res["base_in_scope_accuracy"]
    assert all(a["in_scope_accuracy"] >= b["in_scope_accuracy"] for a, b in zip(curve, curve[1:]))
    assert all(a["oos_rejection"] <= b["oos_rejection"] for a, b in zip(curve, curve[1:]))
    # held-out OOS (not used for calibration) is mostly abstained; in-scope mostly kept
    rows = dev + [(t, "oos") for t in oos[60:]]
    rep = evaluate_router(router, [t for t, _ in rows], [lab for _, lab in rows])
    n_oos = sum(lab == "oos" for _, lab in rows)  # dev has its own oos rows too
    assert rep.abstain is not None and rep.abstain["n"] == n_oos >= 40 and rep.abstain["labels"] == ["oos"]
    assert rep.abstain["oos_abstained"] > 0.3
    assert rep.abstain["in_scope_accuracy"] > 0.7
    assert rep.selection_accuracy >= rep.abstain["in_scope_accuracy"]  # selection ignores thresholds


def test_calibration_targets(embedder, clinc_subset) -> None:
    _, _, held, oos = clinc_subset
    router = AriadneRouter.from_examples(group_by_label(clinc_subset[0]), embedder=embedder)
    texts, labels = [t for t, _ in held], [lab for _, lab in held]
    strict = router.calibrate(texts, labels, oos, target_oos_rejection=0.9)
    assert strict["oos_rejection"] >= 0.9
    loose = router.calibrate(texts, labels, oos, target_in_scope_accuracy=0.9)
    assert loose["in_scope_accuracy"] >= 0.9
    no_oos = router.calibrate(texts, labels, apply=False)
    assert no_oos["in_scope_accuracy"] >= no_oos["base_in_scope_accuracy"] - 0.01 - 1e-9
    assert router.threshold == loose["threshold"]  # apply=False left the previous one
    margin = router.calibrate(texts, labels, oos, by="margin")
    assert router.threshold is None and router.min_margin == margin["min_margin"]
    router.set_thresholds(None, None)


def test_plots_write_files(tmp_path, clinc_router, clinc_subset) -> None:
    pytest.importorskip("matplotlib")
    from ariadne_integrations.routing.plots import plot_abstention_curve, plot_confusion, plot_score_distributions

    _, dev, _, oos = clinc_subset
    rows = dev[:60] + [(t, "oos") for t in oos[:20]]
    rep = evaluate_router(clinc_router, [t for t, _ in rows], [lab for _, lab in rows])
    plot_confusion(rep, tmp_path / "c.png")
    plot_score_distributions(rep, tmp_path / "s.png", threshold=0.4)
    router = AriadneRouter.from_examples({"a": ["x y z"], "b": ["q r s"]}, embedder=clinc_router.embedder)
    res = router.calibrate(["x y", "q r"], ["a", "b"], ["totally unrelated"], apply=False)
    plot_abstention_curve(res, tmp_path / "a.png")
    for name in ("c.png", "s.png", "a.png"):
        assert (tmp_path / name).stat().st_size > 1000
    import json

    json.dumps(rep.to_dict())  # JSON-able


def test_per_adapter_thresholds_on_real_clinc(embedder, clinc_subset, clinc_router, tmp_path) -> None:
    """calibrate(method="per_adapter") on real held-out + OOS queries: one threshold per domain, applied
    by route_batch, kept by save/load, and on unseen queries at least as good a trade as the global one."""
    _, dev, held, oos = clinc_subset
    router = AriadneRouter.from_examples(group_by_label(clinc_subset[0]), embedder=embedder)
    texts, labels = [t for t, _ in held], [lab for _, lab in held]
    glob = router.calibrate(texts, labels, oos[:60], target_oos_rejection=0.9, apply=False)
    rep = router.calibrate(texts, labels, oos[:60], method="per_adapter", target_oos_rejection=0.9)
    own = router.adapter_thresholds
    assert own == rep["adapter_thresholds"] and set(own) == set(router.adapters)
    assert rep["oos_rejection"] >= 0.9
    assert max(own.values()) - min(own.values()) > 0.02  # the domains' score levels differ
    rows = dev + [(t, "oos") for t in oos[60:]]
    q, lab = [t for t, _ in rows], [la for _, la in rows]
    per = evaluate_router(router, q, lab)
    router.set_thresholds(glob["threshold"])
    one = evaluate_router(router, q, lab)
    assert per.abstain is not None and one.abstain is not None
    assert per.abstain["oos_abstained"] > 0.6 and per.abstain["in_scope_accuracy"] > 0.7
    # summed trade (in-scope accuracy + OOS rejection) on unseen queries: no worse than the global threshold's
    assert (per.abstain["in_scope_accuracy"] + per.abstain["oos_abstained"]
            >= one.abstain["in_scope_accuracy"] + one.abstain["oos_abstained"] - 0.03)
    router.set_thresholds(rep["threshold"], adapter_thresholds=own)
    loaded = AriadneRouter.load(router.save(tmp_path / "idx"), embedder=embedder)
    assert loaded.adapter_thresholds == own
    assert [d.adapter for d in loaded.route_batch(q[:40])] == [d.adapter for d in router.route_batch(q[:40])]
