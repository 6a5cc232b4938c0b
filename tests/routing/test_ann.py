"""Approximate centroid search (search="ann" / "auto", extra `ann`): same API, bounded top-1 cost, exact by default."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from ariadne_integrations.errors import InvalidInputError, MissingDependencyError
from ariadne_integrations.routing import centroid_index as ci_mod
from ariadne_integrations.routing.ann import ann_available
from ariadne_integrations.routing.centroid_index import DEFAULT_TOP_K, CentroidIndex
from ariadne_integrations.routing.decision import decide_top
from ariadne_integrations.routing.router import AriadneRouter

DIM = 48
TOP1_BOUND = 0.98  # stated bound: ANN top-1 adapter equals brute force's on at least 98 % of the synthetic queries


class _Fixed:
    name, dimension, fingerprint = "synthetic", DIM, "synthetic-fp"

    def embed(self, texts, *, batch_size=32, show_progress=False):  # never called: vectors are given
        raise AssertionError("should not embed")


def _clustered(n_adapters: int, per: int, n_queries: int, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    topic = rng.standard_normal((n_adapters, 1, DIM)).astype(np.float32)
    topic /= np.linalg.norm(topic, axis=-1, keepdims=True)
    c = topic + (0.6 / np.sqrt(DIM)) * rng.standard_normal((n_adapters, per, DIM)).astype(np.float32)
    c /= np.linalg.norm(c, axis=-1, keepdims=True)
    pick, which = rng.integers(0, n_adapters, n_queries), rng.integers(0, per, n_queries)
    q = c[pick, which] + (0.5 / np.sqrt(DIM)) * rng.standard_normal((n_queries, DIM)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return list(c), q.astype(np.float32)


def _index(n_adapters: int, search: str = "exact", per: int = 8, seed: int = 0) -> tuple[CentroidIndex, np.ndarray]:
    mats, q = _clustered(n_adapters, per, 300, seed)
    return CentroidIndex(tuple(f"a{i}" for i in range(n_adapters)), tuple(mats), dimension=DIM, search=search), q


# ---------------------------------------------------------------- defaults (no usearch needed)
def test_exact_is_the_default_everywhere() -> None:
    idx, q = _index(50)
    assert idx.search == "exact" and not idx.uses_ann
    assert AriadneRouter(_Fixed()).search == "exact"
    auto, _ = _index(50, "auto")
    assert not auto.uses_ann  # far below AUTO_MIN_CENTROIDS: brute force, whatever is installed
    r = AriadneRouter(_Fixed(), search="auto")
    r.add_adapter_embeddings("x", q[:5])
    r.add_adapter_embeddings("y", -q[:5])
    d = r.route_embeddings(q[:3])
    assert all(set(x.scores) == {"x", "y"} for x in d)  # every adapter scored, as before


def test_unknown_search_mode_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="search must be one of"):
        _index(3, "fast")
    with pytest.raises(InvalidInputError, match="search must be one of"):
        AriadneRouter(_Fixed(), search="nearest")


def test_missing_library_names_the_extra(monkeypatch) -> None:
    monkeypatch.setattr(ci_mod, "ann_available", lambda: False)
    with pytest.raises(MissingDependencyError, match=r"ariadne-integrations\[ann\]"):
        _index(3, "ann")
    with pytest.raises(MissingDependencyError, match=r"\[ann\]"):
        AriadneRouter(_Fixed(), search="ann")
    auto, _ = _index(3, "auto")  # auto falls back to exact, silently
    monkeypatch.setattr(ci_mod, "AUTO_MIN_CENTROIDS", 1)
    assert not auto.uses_ann


def test_missing_module_at_build_time_is_typed(monkeypatch) -> None:
    from ariadne_integrations.routing.ann import _usearch

    monkeypatch.setitem(sys.modules, "usearch", None)
    monkeypatch.setitem(sys.modules, "usearch.index", None)
    with pytest.raises(MissingDependencyError, match=r"\[ann\]"):
        _usearch()


def test_exact_top_adapters_match_scores() -> None:
    idx, q = _index(40)
    cols, vals = idx.top_adapters(q[:20], k=5)
    full = idx.scores(q[:20])
    for i in range(20):
        order = np.lexsort((np.arange(full.shape[1]), -full[i]))[:5]
        assert cols[i].tolist() == order.tolist()
        np.testing.assert_allclose(vals[i], full[i, order])


def test_decide_top_margin_and_runner_up() -> None:
    d = decide_top(np.array([[2, 0, 1]]), np.array([[0.9, 0.7, 0.1]]), ["a", "b", "c"], threshold=0.5, min_margin=0.3)[0]
    assert d.best == "c" and d.runner_up == "a" and d.margin == pytest.approx(0.2) and d.abstained
    assert list(d.scores) == ["c", "a", "b"]
    one = decide_top(np.array([[0]]), np.array([[0.4]]), ["a"])[0]
    assert one.margin == pytest.approx(0.4) and one.runner_up is None and one.adapter == "a"


# ---------------------------------------------------------------- with usearch
# usearch is imported by the code under test only (ann._usearch loads onnxruntime first; see its comment)
pytestmark_ann = pytest.mark.skipif(not ann_available(), reason="usearch (extra ann) is not installed")


@pytestmark_ann
def test_top1_agreement_with_brute_force_meets_the_bound() -> None:
    exact, q = _index(2000)
    ann = exact.with_search("ann")
    truth = exact.scores(q).argmax(axis=1)
    got = ann.top_adapters(q)[0][:, 0]
    agreement = float(np.mean(got == truth))
    assert agreement >= TOP1_BOUND, agreement


@pytestmark_ann
def test_same_route_api_and_exact_scores_for_the_top_k() -> None:
    mats, q = _clustered(300, 4, 60, seed=3)
    exact_r, ann_r = AriadneRouter(_Fixed(), strategy="mean"), AriadneRouter(_Fixed(), strategy="mean", search="ann")
    for r in (exact_r, ann_r):
        r._index = CentroidIndex(tuple(f"a{i}" for i in range(300)), tuple(mats), dimension=DIM, search=r.search)
        r.set_thresholds(threshold=0.6, min_margin=0.01)
    assert ann_r.index.uses_ann
    ex, ap = exact_r.route_embeddings(q), ann_r.route_embeddings(q)
    same = same_runner_up = 0
    for e, a in zip(ex, ap):
        assert type(a) is type(e)
        assert len(a.scores) == DEFAULT_TOP_K
        for name, s in a.scores.items():  # reported scores are exact
            assert s == pytest.approx(e.scores[name], abs=1e-5)
        if a.best == e.best:
            same += 1
            assert a.score == pytest.approx(e.score, abs=1e-5)
            # a missed runner-up can only make the margin larger: the reported one is exact but maybe not the 2nd best
            assert a.margin >= e.margin - 1e-5
            if a.runner_up == e.runner_up:
                same_runner_up += 1
                assert a.margin == pytest.approx(e.margin, abs=1e-5)
                assert a.abstained == e.abstained and a.adapter == e.adapter
    assert same / len(q) >= TOP1_BOUND
    assert same_runner_up / len(q) >= 0.9


@pytestmark_ann
def test_graph_built_lazily_and_rebuilt_on_change() -> None:
    idx, q = _index(200, "ann")
    assert idx.ann_memory_bytes is None  # nothing built until the first search
    idx.top_adapters(q[:1])
    assert idx.ann_memory_bytes and idx.ann_memory_bytes > 0
    renamed = idx.with_adapter_path("a0", "/tmp/a0")
    assert renamed.ann_memory_bytes == idx.ann_memory_bytes  # same centroids: the graph is shared
    smaller = idx.without_adapter("a5")
    assert smaller.search == "ann" and smaller.ann_memory_bytes is None  # new matrix: built again on first search
    cols, _ = smaller.top_adapters(q)
    assert "a5" not in {smaller.names[c] for c in cols.ravel()}
    new = np.ones((1, DIM), np.float32) / np.sqrt(DIM)
    bigger = idx.with_adapter("new", new)
    assert bigger.search == "ann" and bigger.ann_memory_bytes is None
    best = bigger.top_adapters(new)[0][0, 0]
    assert bigger.names[best] == "new"


@pytestmark_ann
def test_auto_switches_above_the_threshold(monkeypatch) -> None:
    idx, q = _index(100, "auto")
    assert not idx.uses_ann
    monkeypatch.setattr(ci_mod, "AUTO_MIN_CENTROIDS", 100)
    assert idx.uses_ann
    cols, vals = idx.top_adapters(q[:5])
    assert cols.shape == (5, DEFAULT_TOP_K) and np.all(np.diff(vals, axis=1) <= 0)


@pytestmark_ann
def test_load_with_search(tmp_path, embedder, toy_examples) -> None:
    r = AriadneRouter.from_examples(toy_examples, embedder=embedder)
    r.save(tmp_path / "idx")
    loaded = AriadneRouter.load(tmp_path / "idx", embedder=embedder, search="ann")
    assert loaded.search == "ann" and loaded.index.uses_ann
    q = next(iter(toy_examples.values()))[0]
    assert loaded.route(q).best == r.route(q).best


def test_a_bad_search_argument_to_load_is_the_callers_error_not_a_corrupt_index(tmp_path) -> None:
    from ariadne_integrations.errors import IndexFormatError, InvalidInputError
    from ariadne_integrations.routing.router import AriadneRouter

    with pytest.raises(InvalidInputError, match="search must be one of") as info:
        AriadneRouter.load(tmp_path / "no-index-here", search="fast")  # refused before the folder is even read
    assert not isinstance(info.value, IndexFormatError)
