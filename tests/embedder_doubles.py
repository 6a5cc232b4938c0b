"""Test embedders that wrap the real default embedder (same name, dimension and fingerprint, so an
index they build is a real one) and add bookkeeping: a per-text memo, or a record of what was embedded."""
from __future__ import annotations

import threading
from typing import Sequence

import numpy as np

from ariadne_integrations.routing.embedders import default_embedder, validate_texts


class DelegatingEmbedder:
    """The real default embedder's identity; subclasses override ``embed``."""

    def __init__(self) -> None:
        self.inner = default_embedder()
        self.name = self.inner.name
        self.spec = self.inner.spec
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    def embed(self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        return self.inner.embed(texts, batch_size=batch_size, show_progress=show_progress)


class CachingEmbedder(DelegatingEmbedder):
    """With a per-text memo, so tests that re-embed the same texts stay fast."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self._memo: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        items = validate_texts(texts)
        with self._lock:
            self.calls += 1
            missing = list(dict.fromkeys(t for t in items if t not in self._memo))
        if missing:
            vecs = self.inner.embed(missing, batch_size=batch_size)
            with self._lock:
                self._memo.update(zip(missing, vecs))
        return np.stack([self._memo[t] for t in items])


class CountingEmbedder(DelegatingEmbedder):
    """Recording every text it embeds (to prove examples are embedded once)."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        with self._lock:
            self.texts.extend(texts)
        return self.inner.embed(texts, batch_size=batch_size)
