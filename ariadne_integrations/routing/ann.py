"""Optional approximate nearest-neighbour search over the centroid matrix (extra ``ann``: usearch).

Why usearch: of the three well-kept libraries (FAISS, usearch, hnswlib) it is the smallest install (a
~2 MB wheel whose only run-time dependency is numpy, against faiss-cpu's ~30 MB with its own OpenMP), it
is actively released (hnswlib's last release is 0.8.0, December 2023), and its HNSW graph stores
vectors in float16 or int8, halving or quartering the index memory at no measurable top-1 cost here.

How it is used: the graph holds every centroid row. A query retrieves ``candidates`` centroids, their
adapters are the candidate adapters, and each candidate adapter is then scored *exactly* (max cosine over
all its centroids, as brute force does). So the scores reported are exact for the adapters returned;
the approximation is only which adapters are looked at. Nothing here is imported until the first ANN
search: ``import usearch`` happens in :func:`_usearch`.
"""
from __future__ import annotations

import importlib.util
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ariadne_integrations.errors import MissingDependencyError

__all__ = ["ANN_INSTALL", "AUTO_MIN_CENTROIDS", "SEARCH_MODES", "AnnParams", "CentroidAnn", "ann_available"]

log = logging.getLogger(__name__)

SEARCH_MODES = ("exact", "ann", "auto")
AUTO_MIN_CENTROIDS = 200_000
"""``search="auto"`` uses the ANN index from this many centroid rows up (25,000 adapters of 8 centroids),
and only when usearch is installed. Why not lower: brute force is exact and needs no build, at 80,000 rows
it is 2.4-4 ms per query on an idle two-core machine (benchmarks/results/routing.json) and grows linearly,
while the graph's one-off build on the first search is ~45 s at 80,000 rows and ~5 min at 800,000 on that
machine (benchmarks/results/scale.json). Pass ``search="ann"`` to use it at any size."""

ANN_INSTALL = "approximate centroid search needs usearch: pip install 'ariadne-integrations[ann]'"


def ann_available() -> bool:
    """Whether usearch is importable (checked without importing it)."""
    return importlib.util.find_spec("usearch") is not None


def _usearch() -> Any:
    """The ``usearch.index`` module, or MissingDependencyError naming the extra that installs it."""
    # Load order matters: an ONNX Runtime session created after usearch was imported segfaults (onnxruntime 1.x with
    # usearch 2.26 here); onnxruntime loaded first, both work. So when the default ONNX embedder is installed it is
    # loaded before usearch, whatever the caller does next.
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime  # noqa: F401
    try:
        import usearch.index as usearch_index
    except ImportError as exc:
        raise MissingDependencyError(ANN_INSTALL) from exc
    return usearch_index


@dataclass(frozen=True)
class AnnParams:
    """HNSW settings. ``candidates``: centroids retrieved per query (their adapters are rescored exactly)."""

    connectivity: int = 16
    expansion_add: int = 32
    # ef 512: at 100,000 adapters (800,000 rows) top-1 agreement with brute force was 0.54 / 0.71 / 0.915 / 0.98 at
    # ef 64 / 128 / 256 / 512, for 0.9 / 1.7 / 2.8 / 5.4 ms per query against brute force's 44-80 ms
    # (benchmarks/results/scale_100k_ef_sweep.json); smaller indices lose little speed to it
    expansion_search: int = 512
    dtype: str = "f16"
    candidates: int = 64
    threads: int = 0  # build threads; 0 = all cores


class CentroidAnn:
    """An HNSW graph (inner product) over the rows of a read-only centroid matrix, keyed by row number."""

    def __init__(self, matrix: np.ndarray, params: AnnParams | None = None) -> None:
        self.params = params or AnnParams()
        mod = _usearch()
        p = self.params
        t = time.perf_counter()
        self._index = mod.Index(ndim=int(matrix.shape[1]), metric="ip", dtype=p.dtype, connectivity=p.connectivity,
                                expansion_add=p.expansion_add, expansion_search=p.expansion_search)
        self._index.add(np.arange(matrix.shape[0], dtype=np.uint64), np.ascontiguousarray(matrix, dtype=np.float32),
                        threads=p.threads)
        self.build_s = time.perf_counter() - t
        self.size = int(matrix.shape[0])
        log.info("built the ANN centroid index: %d rows in %.1f s (%.1f MB)", self.size, self.build_s, self.memory_bytes / 1e6)

    @property
    def memory_bytes(self) -> int:
        """Bytes the graph and its stored vectors take (usearch's own count)."""
        return int(self._index.memory_usage)

    @property
    def expansion_search(self) -> int:
        """HNSW's search breadth (ef): higher finds the true neighbours more often, slower."""
        return int(self._index.expansion_search)

    @expansion_search.setter
    def expansion_search(self, value: int) -> None:
        self._index.expansion_search = int(value)

    def search(self, vectors: np.ndarray, count: int) -> np.ndarray:
        """Row numbers of the ``count`` nearest centroids per query (n, count); -1 where fewer were found."""
        count = max(1, min(int(count), self.size))
        m = self._index.search(np.ascontiguousarray(vectors, dtype=np.float32), count, threads=1)
        raw = np.asarray(m.keys).reshape(len(vectors), -1)
        # one query comes back as Matches (no .counts; only the hits found), a batch as BatchMatches (padded rows)
        counts = np.asarray(getattr(m, "counts", [raw.shape[1]])).reshape(-1)
        keys = np.full((len(vectors), count), -1, dtype=np.int64)
        keys[:, : raw.shape[1]] = raw.astype(np.int64)
        mask = np.arange(keys.shape[1])[None, :] >= counts[:, None]
        keys[mask] = -1
        return keys


class AnnCell:
    """A lazily built :class:`CentroidAnn`, shared by indices that hold the same centroid matrix."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ann: CentroidAnn | None = None

    @property
    def built(self) -> CentroidAnn | None:
        return self._ann

    def get(self, matrix: np.ndarray, params: AnnParams | None = None) -> CentroidAnn:
        ann = self._ann
        if ann is None:
            with self._lock:
                if self._ann is None:
                    self._ann = CentroidAnn(matrix, params)
                ann = self._ann
        return ann
