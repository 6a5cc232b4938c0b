"""Per-adapter abstention thresholds: the decision rule, their calibration, the router API and the index file."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ariadne_integrations.errors import IndexFormatError, InvalidInputError, UnknownAdapterError
from ariadne_integrations.routing import persistence
from ariadne_integrations.routing.calibration import calibrate_per_adapter, calibrate_scores
from ariadne_integrations.routing.decision import decide, decide_top
from ariadne_integrations.routing.router import AriadneRouter
from ariadne_integrations.testing import HashingEmbedder

NAMES = ("narrow", "broad")


def _two_domains(seed: int, n_in: int = 400, n_oos: int = 200) -> tuple[np.ndarray, list[str | None]]:
    """Scores (n, 2) where the two adapters' in-scope scores live at different levels.

    ``narrow``'s own queries score ~0.80, ``broad``'s ~0.50; out-of-scope queries land on ``narrow`` at
    ~0.65 and on ``broad`` at ~0.35. One global threshold that rejects the OOS queries landing on
    ``narrow`` (> 0.65) also rejects nearly all of ``broad``'s own queries; a threshold per adapter does not.
    """
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for col, level in ((0, 0.80), (1, 0.50)):
        best = rng.normal(level, 0.03, n_in)
        other = best - rng.uniform(0.1, 0.3, n_in)
        s = np.zeros((n_in, 2))
        s[:, col], s[:, 1 - col] = best, other
        rows.append(s)
        labels += [NAMES[col]] * n_in
    for col, level in ((0, 0.65), (1, 0.35)):
        best = rng.normal(level, 0.03, n_oos // 2)
        s = np.zeros((n_oos // 2, 2))
        s[:, col], s[:, 1 - col] = best, best - rng.uniform(0.05, 0.2, n_oos // 2)
        rows.append(s)
        labels += [None] * (n_oos // 2)
    return np.concatenate(rows), labels


def _dev_figures(scores: np.ndarray, labels: list[str | None], threshold: float | None,
                 adapter_thresholds: dict[str, float] | None) -> tuple[float, float]:
    decs = decide(scores, NAMES, threshold, None, adapter_thresholds)
    ins = [d.adapter == lab for d, lab in zip(decs, labels) if lab is not None]
    oos = [d.abstained for d, lab in zip(decs, labels) if lab is None]
    return float(np.mean(ins)), float(np.mean(oos))


def test_per_adapter_rejects_more_oos_at_lower_cost_than_global() -> None:
    cal, cal_labels = _two_domains(0)
    dev, dev_labels = _two_domains(1)
    glob = calibrate_scores(cal, NAMES, cal_labels, target_oos_rejection=0.9)
    own = calibrate_per_adapter(cal, NAMES, cal_labels, target_oos_rejection=0.9)
    assert own["adapter_thresholds"] is not None and set(own["adapter_thresholds"]) == set(NAMES)
    assert own["adapter_thresholds"]["narrow"] > own["adapter_thresholds"]["broad"] + 0.15
    g_acc, g_rej = _dev_figures(dev, dev_labels, glob["threshold"], None)
    p_acc, p_rej = _dev_figures(dev, dev_labels, own["threshold"], own["adapter_thresholds"])
    assert g_rej >= 0.85 and p_rej >= 0.85
    assert g_acc < 0.6  # the global threshold throws away most of broad's queries ...
    assert p_acc > 0.95  # ... the per-adapter one almost none
    # the report's fallback threshold is the global method's, for adapters added later
    assert own["threshold"] == pytest.approx(glob["threshold"])
    assert own["oos_rejection"] >= 0.9 and own["method"] == "per_adapter"


def test_per_adapter_balanced_and_target_accuracy() -> None:
    cal, labels = _two_domains(2)
    bal = calibrate_per_adapter(cal, NAMES, labels)
    assert bal["in_scope_accuracy"] > 0.95 and bal["oos_rejection"] > 0.95
    acc = calibrate_per_adapter(cal, NAMES, labels, target_in_scope_accuracy=0.99)
    assert acc["in_scope_accuracy"] >= 0.99
    with pytest.raises(InvalidInputError, match="labels must name adapters"):
        calibrate_per_adapter(cal, NAMES, [None] * len(labels))
    with pytest.raises(InvalidInputError, match="do not match"):
        calibrate_per_adapter(cal[:, :1], NAMES, labels)


def test_decision_rule_uses_each_adapters_own_threshold() -> None:
    scores = np.array([[0.70, 0.10], [0.10, 0.45], [0.60, 0.10], [0.10, 0.30]])
    own = {"narrow": 0.65, "broad": 0.40}
    decs = decide(scores, NAMES, None, None, own)
    assert [d.abstained for d in decs] == [False, False, True, True]
    # an adapter without an entry falls back to the global threshold
    decs = decide(scores, NAMES, 0.5, None, {"narrow": 0.65})
    assert [d.abstained for d in decs] == [False, True, True, True]
    # the top-k form agrees
    cols = np.argsort(-scores, axis=1)
    top = np.take_along_axis(scores, cols, axis=1)
    assert [d.abstained for d in decide_top(cols, top, NAMES, None, None, own)] == [False, False, True, True]


@pytest.fixture()
def router() -> AriadneRouter:
    r = AriadneRouter(HashingEmbedder(64))
    r.add_adapter("narrow", ["alpha beta gamma", "alpha beta delta", "alpha gamma delta", "beta gamma delta", "alpha beta"])
    r.add_adapter("broad", [f"word{i} word{i + 1} other{i % 3}" for i in range(12)])
    return r


def test_router_calibrate_per_adapter_and_route(router: AriadneRouter) -> None:
    held = ["alpha beta gamma delta", "alpha delta", "beta gamma", "gamma delta alpha", "alpha beta gamma",
            "word3 word4", "word7 word8 other1", "word1 other2", "word9 word10", "word5 word6 other0"]
    labels = ["narrow"] * 5 + ["broad"] * 5
    oos = ["zeta eta theta", "iota kappa", "lambda mu nu", "xi omicron pi word2", "rho sigma alpha"]
    rep = router.calibrate(held, labels, oos, method="per_adapter")
    assert router.adapter_thresholds == rep["adapter_thresholds"] and router.threshold == rep["threshold"]
    assert "adapter_thresholds=2" in repr(router)
    texts = held + oos
    expected = decide(router.scores(texts), router.adapters, rep["threshold"], None, rep["adapter_thresholds"])
    assert [d.adapter for d in router.route_batch(texts)] == [d.adapter for d in expected]
    # a per-call threshold replaces every score rule, the per-adapter ones included
    assert not any(d.abstained for d in router.route_batch(texts, threshold=-1.0))
    with pytest.raises(InvalidInputError, match="method"):
        router.calibrate(held, labels, oos, method="knn")
    with pytest.raises(InvalidInputError, match="by='score'"):
        router.calibrate(held, labels, oos, method="per_adapter", by="margin")


def test_set_thresholds_checks_adapter_thresholds(router: AriadneRouter) -> None:
    with pytest.raises(UnknownAdapterError, match="ghost"):
        router.set_thresholds(0.3, adapter_thresholds={"ghost": 0.2})
    for bad in (float("nan"), "0.3", None, True):
        with pytest.raises(InvalidInputError):
            router.set_thresholds(0.3, adapter_thresholds={"narrow": bad})
    router.set_thresholds(0.3, adapter_thresholds={"narrow": 0.5, "broad": 0.2})
    router.remove_adapter("broad")
    assert router.adapter_thresholds == {"narrow": 0.5}
    router.set_thresholds(0.3)
    assert router.adapter_thresholds == {}


def test_adapter_thresholds_survive_save_and_load(router: AriadneRouter, tmp_path: Path) -> None:
    emb = router.embedder
    plain = router.save(tmp_path / "plain")
    meta = json.loads((plain / "index.json").read_text())
    assert "per_adapter" not in meta["thresholds"]  # an index without them is what older versions wrote
    assert AriadneRouter.load(plain, embedder=emb).adapter_thresholds == {}
    router.set_thresholds(0.31, 0.02, adapter_thresholds={"narrow": 0.55, "broad": 0.125})
    folder = router.save(tmp_path / "idx")
    loaded = AriadneRouter.load(folder, embedder=emb)
    assert loaded.adapter_thresholds == {"narrow": 0.55, "broad": 0.125}
    assert (loaded.threshold, loaded.min_margin) == (0.31, 0.02)
    q = ["alpha beta", "word3 word4 other0", "zeta eta"]
    assert [d.to_dict() for d in loaded.route_batch(q)] == [d.to_dict() for d in router.route_batch(q)]
    # re-saving the loaded index keeps them (and the content checksum covers them)
    again = loaded.save(tmp_path / "again")
    m1, m2 = (json.loads((f / "index.json").read_text()) for f in (folder, again))
    assert m1["thresholds"] == m2["thresholds"] and m1["content_sha256"] == persistence.content_digest(m1)


@pytest.mark.parametrize(
    "per_adapter,needle",
    [
        ({"narrow": "0.5", "broad": 0.1}, "per_adapter"),
        ({"narrow": None}, "per_adapter"),
        ({"ghost": 0.5}, "not in the index"),
        ([0.5, 0.1], "per_adapter"),
    ],
)
def test_corrupt_adapter_thresholds_are_a_format_error(router: AriadneRouter, tmp_path: Path, per_adapter, needle) -> None:
    router.set_thresholds(0.3, adapter_thresholds={"narrow": 0.5, "broad": 0.1})
    folder = router.save(tmp_path / "idx")
    meta = json.loads((folder / "index.json").read_text())
    meta["thresholds"]["per_adapter"] = per_adapter
    meta["content_sha256"] = persistence.content_digest(meta)  # resealed: the schema is what is tested
    (folder / "index.json").write_text(json.dumps(meta))
    with pytest.raises(IndexFormatError, match=needle):
        AriadneRouter.load(folder, embedder=router.embedder)


def test_tampered_adapter_threshold_fails_the_checksum(router: AriadneRouter, tmp_path: Path) -> None:
    router.set_thresholds(0.3, adapter_thresholds={"narrow": 0.5, "broad": 0.1})
    folder = router.save(tmp_path / "idx")
    meta = json.loads((folder / "index.json").read_text())
    meta["thresholds"]["per_adapter"]["narrow"] = 0.05  # not resealed
    (folder / "index.json").write_text(json.dumps(meta))
    with pytest.raises(IndexFormatError, match="checksum"):
        AriadneRouter.load(folder, embedder=router.embedder)
