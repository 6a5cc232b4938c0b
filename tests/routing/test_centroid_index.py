"""CentroidIndex on synthetic unit vectors: scores against brute force, copy-on-write, checks."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ariadne_integrations.errors import (
    DuplicateAdapterError,
    EmbedderMismatchError,
    InvalidInputError,
    UnknownAdapterError,
)
from ariadne_integrations.routing.centroid_index import CentroidIndex
from ariadne_integrations.routing.router import AriadneRouter

DIM = 16


def _unit(rng: np.random.Generator, *shape: int) -> np.ndarray:
    x = rng.normal(size=(*shape, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _index(seed: int = 0, sizes: tuple[int, ...] = (3, 1, 5, 2)) -> CentroidIndex:
    rng = np.random.default_rng(seed)
    names = tuple(f"a{i}" for i in range(len(sizes)))
    return CentroidIndex(names, tuple(_unit(rng, m) for m in sizes), n_examples=tuple(10 * m for m in sizes))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_equal_brute_force_max_cosine(seed: int) -> None:
    sizes = (3, 1, 5, 2, 7)
    idx = _index(seed, sizes)
    queries = _unit(np.random.default_rng(seed + 100), 9)
    got = idx.scores(queries)
    assert got.shape == (9, len(sizes))
    for i, q in enumerate(queries):
        for j, name in enumerate(idx.names):
            brute = max(float(np.dot(c.astype(np.float64), q.astype(np.float64))) for c in idx.centroids_of(name))
            assert got[i, j] == pytest.approx(brute, abs=1e-6)
    # one vector (d,) scores like the same row of a batch
    np.testing.assert_allclose(idx.scores(queries[4]), got[4], atol=1e-6)


def test_layout_matrix_and_offsets() -> None:
    idx = _index(sizes=(3, 1, 5, 2))
    assert idx.offsets.tolist() == [0, 3, 4, 9, 11]
    assert idx.matrix.shape == (11, DIM) and idx.n_centroids == 11 and idx.dimension == DIM
    np.testing.assert_array_equal(idx.matrix[4:9], idx.centroids_of("a2"))
    assert idx.n_examples == (30, 10, 50, 20) and idx.adapter_paths == (None,) * 4
    assert idx.position("a3") == 3 and "a3" in idx and "zz" not in idx and ["unhashable"] not in idx
    assert len(idx) == 4


def test_with_adapter_returns_a_new_index_and_leaves_the_old_unchanged() -> None:
    old = _index()
    before_matrix = old.matrix.copy()
    new_cents = _unit(np.random.default_rng(7), 4)
    new = old.with_adapter("extra", new_cents, n_examples=12, adapter_path="/tmp/extra")
    assert new is not old
    assert old.names == ("a0", "a1", "a2", "a3") and "extra" not in old
    np.testing.assert_array_equal(old.matrix, before_matrix)
    assert new.names == ("a0", "a1", "a2", "a3", "extra")
    assert new.n_examples_of("extra") == 12 and new.adapter_path_of("extra") == "/tmp/extra"
    np.testing.assert_array_equal(new.centroids_of("extra"), new_cents)
    # the other adapters keep their very arrays (identity tells a caller nothing changed)
    for name in old.names:
        assert new.centroids_of(name) is old.centroids_of(name)
    # replace keeps the position; without replace a duplicate is refused
    with pytest.raises(DuplicateAdapterError, match="replace=True"):
        new.with_adapter("a1", new_cents)
    replaced = new.with_adapter("a1", new_cents, replace=True)
    assert replaced.names == new.names and replaced.centroids_of("a1").shape == (4, DIM)
    assert new.centroids_of("a1").shape == (1, DIM)


def test_without_adapter_and_with_adapter_path_are_copy_on_write() -> None:
    old = _index()
    smaller = old.without_adapter("a1")
    assert smaller.names == ("a0", "a2", "a3") and old.names == ("a0", "a1", "a2", "a3")
    assert smaller.offsets.tolist() == [0, 3, 8, 10]
    np.testing.assert_array_equal(smaller.centroids_of("a2"), old.centroids_of("a2"))
    with pytest.raises(UnknownAdapterError, match="a1"):
        smaller.without_adapter("a1")
    moved = old.with_adapter_path("a2", "/models/a2")
    assert moved.adapter_path_of("a2") == "/models/a2" and old.adapter_path_of("a2") is None


def test_the_index_cannot_be_changed_in_place() -> None:
    idx = _index()
    with pytest.raises(dataclasses.FrozenInstanceError):
        idx.names = ("x",)  # type: ignore[misc]
    with pytest.raises(ValueError):
        idx.matrix[0, 0] = 1.0
    with pytest.raises(ValueError):
        idx.centroids_of("a0")[0, 0] = 1.0
    # a caller's array is copied: changing it afterwards does not reach the index
    mine = _unit(np.random.default_rng(3), 2)
    idx2 = CentroidIndex(("m",), (mine,))
    mine[:] = 0.0
    assert np.all(idx2.centroids_of("m") != 0.0)


def test_empty_index_takes_the_first_adapters_dimension() -> None:
    empty = CentroidIndex.empty()
    assert len(empty) == 0 and empty.dimension == 0 and empty.matrix.shape == (0, 0)
    with pytest.raises(InvalidInputError, match="no adapters"):
        empty.scores(np.ones(DIM, np.float32))
    one = empty.with_adapter("a", _unit(np.random.default_rng(0), 2))
    assert one.dimension == DIM and one.n_examples == (2,)


def test_bad_construction_and_queries_are_clear_errors() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(DuplicateAdapterError):
        CentroidIndex(("a", "a"), (_unit(rng, 1), _unit(rng, 1)))
    with pytest.raises(InvalidInputError):
        CentroidIndex(("a", "b"), (_unit(rng, 1),))
    with pytest.raises(InvalidInputError):
        CentroidIndex(("a",), (np.zeros((0, DIM), np.float32),))
    with pytest.raises(InvalidInputError, match="NaN"):
        CentroidIndex(("a",), (np.full((1, DIM), np.nan, np.float32),))
    with pytest.raises(EmbedderMismatchError):
        CentroidIndex(("a", "b"), (_unit(rng, 1), np.ones((1, DIM + 1), np.float32)))
    idx = _index()
    with pytest.raises(EmbedderMismatchError):
        idx.with_adapter("c", np.ones((2, DIM + 1), np.float32))
    with pytest.raises(EmbedderMismatchError):
        idx.scores(np.ones((2, DIM + 1), np.float32))


def test_router_exposes_its_index_as_a_snapshot() -> None:
    class _Fixed:
        name, dimension, fingerprint = "synthetic", DIM, "synthetic-fp"

        def embed(self, texts, *, batch_size=32, show_progress=False):  # never called: vectors are given
            raise AssertionError("should not embed")

    rng = np.random.default_rng(5)
    r = AriadneRouter(_Fixed(), strategy="mean")
    r.add_adapter_embeddings("x", rng.normal(size=(4, DIM)).astype(np.float32))
    snap = r.index
    assert isinstance(snap, CentroidIndex) and snap.names == ("x",)
    r.add_adapter_embeddings("y", rng.normal(size=(3, DIM)).astype(np.float32))
    assert snap.names == ("x",) and r.index.names == ("x", "y")
    assert r.index.centroids_of("x") is snap.centroids_of("x")
    q = _unit(rng, 5)
    np.testing.assert_allclose(r.scores(q), r.index.scores(q), atol=1e-6)
    r.remove_adapter("x")
    assert r.index.names == ("y",) and snap.names == ("x",)
