"""Centroid strategies: how an adapter's training inputs become a few unit vectors.

Every strategy sees one adapter's embeddings only, so adding or removing an adapter never changes
another adapter's centroids, and is deterministic (seeded) so a rebuild gives the same index.

- ``paper``: the exact ARIADNE recipe (arXiv 2606.19079): a task with fewer than 500 inputs gets one
  centroid, the mean of all; otherwise five means of 500 inputs each: the first 500, the last 500
  and three random draws of 500 (seeded). Plain means, then L2-normalised for cosine scoring.
- ``kmeans`` (default): spherical k-means with k chosen from the data, ``k = ceil(sqrt(n))`` capped
  to [1, 64] (or the user's ``centroids``), so small tasks get a few centroids and broad tasks
  (several intents, several input styles) get one per region.
- ``mean``: one centroid, the mean of all inputs (the 1-centroid ablation).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ariadne_integrations.errors import InvalidInputError
from ariadne_integrations.routing.embedders import normalize_rows

PAPER_SUBSET = 500
PAPER_RANDOM_DRAWS = 3
DEFAULT_STRATEGY = "kmeans"
DEFAULT_SEED = 0
KMEANS_MAX_K = 64


def paper_centroids(x: np.ndarray, *, seed: int = DEFAULT_SEED) -> np.ndarray:
    """The paper's recipe, exactly: see module docstring. Returns (m, d) unit rows, m in {1, 5}."""
    x = np.asarray(x, dtype=np.float32)
    n = x.shape[0]
    if n < PAPER_SUBSET:
        means = [x.mean(axis=0)]
    else:
        rng = np.random.default_rng(seed)
        means = [x[:PAPER_SUBSET].mean(axis=0), x[-PAPER_SUBSET:].mean(axis=0)]
        for _ in range(PAPER_RANDOM_DRAWS):
            idx = rng.choice(n, size=PAPER_SUBSET, replace=False)
            means.append(x[idx].mean(axis=0))
    return normalize_rows(np.stack(means))


def mean_centroid(x: np.ndarray, *, seed: int = DEFAULT_SEED) -> np.ndarray:
    """One centroid: the normalised mean of every input."""
    return normalize_rows(np.asarray(x, dtype=np.float32).mean(axis=0, keepdims=True))


def default_k(n: int) -> int:
    """k from the data: ceil(sqrt(n)), at least 1, at most KMEANS_MAX_K and n."""
    return max(1, min(n, KMEANS_MAX_K, math.ceil(math.sqrt(n))))


def kmeans_centroids(x: np.ndarray, *, k: int | None = None, seed: int = DEFAULT_SEED) -> np.ndarray:
    """Spherical k-means (k-means on unit vectors, centres re-normalised); k from the data unless given."""
    x = normalize_rows(x)
    n = x.shape[0]
    k = default_k(n) if k is None else max(1, min(int(k), n))
    if k == 1:
        return mean_centroid(x)
    uniq = np.unique(x, axis=0)
    if uniq.shape[0] <= k:  # fewer distinct points than centroids: each point is its own centroid
        return normalize_rows(uniq)
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    # One thread: these fits are small, and on a busy machine OpenMP threads fighting other processes
    # for the cores slow them down many times over.
    with threadpool_limits(limits=1):
        km = KMeans(n_clusters=k, n_init=3, random_state=seed, max_iter=100)
        km.fit(x)
    return normalize_rows(km.cluster_centers_.astype(np.float32))


@dataclass(frozen=True)
class Strategy:
    """A named centroid recipe; ``params`` are stored in the index so a rebuild is reproducible."""

    name: str
    centroids: int | None = None
    seed: int = DEFAULT_SEED

    def params(self) -> dict[str, Any]:
        return {"centroids": self.centroids, "seed": self.seed}

    def fit(self, x: np.ndarray) -> np.ndarray:
        """Centroids (unit rows, float32) for one adapter's embeddings ``x`` (n, d)."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] == 0:
            raise InvalidInputError(f"an adapter needs at least one example embedding, got shape {x.shape}")
        fn = _STRATEGIES[self.name]
        if self.name == "kmeans":
            out = kmeans_centroids(x, k=self.centroids, seed=self.seed)
        else:
            out = fn(x, seed=self.seed)
        return np.ascontiguousarray(out, dtype=np.float32)


_STRATEGIES: dict[str, Callable[..., np.ndarray]] = {
    "paper": paper_centroids,
    "kmeans": kmeans_centroids,
    "mean": mean_centroid,
}


def make_strategy(name: str | None = None, centroids: int | None = None, seed: int = DEFAULT_SEED) -> Strategy:
    """Validate a user's strategy choice."""
    name = DEFAULT_STRATEGY if name is None else name
    if name not in _STRATEGIES:
        raise InvalidInputError(f"unknown centroid strategy {name!r}; choose one of {', '.join(_STRATEGIES)}")
    if centroids is not None:
        if isinstance(centroids, bool) or not isinstance(centroids, int) or centroids < 1:
            raise InvalidInputError(f"centroids must be a positive integer, got {centroids!r}")
        if name != "kmeans":
            raise InvalidInputError(f"centroids={centroids} only applies to the 'kmeans' strategy, not {name!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise InvalidInputError(f"seed must be an integer in [0, 2**63), got {seed!r}")
    return Strategy(name=name, centroids=centroids, seed=int(seed))
