"""Centroid strategies: the paper recipe exactly, k-means determinism and shapes, bad parameters."""
from __future__ import annotations

import numpy as np
import pytest

from ariadne_integrations.errors import InvalidInputError
from ariadne_integrations.routing.centroids import (
    default_k,
    kmeans_centroids,
    make_strategy,
    paper_centroids,
)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _vectors(n: int, d: int = 16, seed: int = 1) -> np.ndarray:
    return _unit(np.random.default_rng(seed).normal(size=(n, d)))


def test_paper_recipe_is_exact_for_large_tasks() -> None:
    x = _vectors(1234)
    c = paper_centroids(x, seed=0)
    assert c.shape == (5, 16)
    np.testing.assert_allclose(c[0], _unit(x[:500].mean(0)), rtol=1e-6)
    np.testing.assert_allclose(c[1], _unit(x[-500:].mean(0)), rtol=1e-6)
    rng = np.random.default_rng(0)
    for j in range(3):
        idx = rng.choice(1234, size=500, replace=False)
        np.testing.assert_allclose(c[2 + j], _unit(x[idx].mean(0)), rtol=1e-6)


def test_paper_recipe_single_mean_below_500() -> None:
    x = _vectors(499)
    c = paper_centroids(x)
    assert c.shape == (1, 16)
    np.testing.assert_allclose(c[0], _unit(x.mean(0)), rtol=1e-6)


def test_paper_random_draws_are_seeded() -> None:
    x = _vectors(800)
    np.testing.assert_array_equal(paper_centroids(x, seed=3), paper_centroids(x, seed=3))
    assert not np.allclose(paper_centroids(x, seed=3)[2:], paper_centroids(x, seed=4)[2:])


@pytest.mark.parametrize("n,k", [(1, 1), (4, 2), (100, 10), (145, 13), (1500, 39), (100000, 64)])
def test_default_k_grows_with_sqrt_n(n: int, k: int) -> None:
    assert default_k(n) == k


def test_kmeans_is_deterministic_unit_and_sized() -> None:
    x = _vectors(300)
    a, b = kmeans_centroids(x, seed=0), kmeans_centroids(x, seed=0)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (default_k(300), 16)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    assert kmeans_centroids(x, k=5).shape == (5, 16)


def test_kmeans_finds_separated_clusters() -> None:
    rng = np.random.default_rng(0)
    centres = _unit(rng.normal(size=(3, 16)))
    x = _unit(np.repeat(centres, 50, axis=0) + 0.01 * rng.normal(size=(150, 16)))
    c = kmeans_centroids(x, k=3)
    # every true centre has a centroid within a tiny angle
    assert (centres @ c.T).max(axis=1).min() > 0.99


def test_kmeans_with_fewer_distinct_points_than_k() -> None:
    x = np.repeat(_vectors(2), 5, axis=0)
    c = kmeans_centroids(x, k=8)
    assert c.shape == (2, 16)


def test_strategy_fit_rejects_empty_and_bad_params() -> None:
    with pytest.raises(InvalidInputError):
        make_strategy("paper").fit(np.zeros((0, 4), np.float32))
    with pytest.raises(InvalidInputError, match="unknown centroid strategy"):
        make_strategy("nope")
    with pytest.raises(InvalidInputError, match="positive integer"):
        make_strategy("kmeans", centroids=0)
    with pytest.raises(InvalidInputError, match="only applies"):
        make_strategy("paper", centroids=3)
