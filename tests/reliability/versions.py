"""Three deterministic index versions over the HashingEmbedder, shared by the tests and the saver process.

The versions differ in their adapter set and threshold, and every adapter's centroids are drawn from a
seed of (version, name), so a loaded index can be matched to exactly one saved version by its
:func:`signature`; a mix of two versions matches none.
"""
from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import numpy as np

from ariadne_integrations.testing import HashingEmbedder

DIM = 32
N_ADAPTERS = 60


def embedder() -> HashingEmbedder:
    return HashingEmbedder(DIM)


def names(version: int) -> list[str]:
    """Version 0: a00..a59; version 1 drops a00 and adds b60; version 2 drops a01 and adds b61, b62."""
    base = [f"a{i:02d}" for i in range(N_ADAPTERS)]
    if version == 0:
        return base
    if version == 1:
        return base[1:] + ["b60"]
    return [base[0]] + base[2:] + ["b61", "b62"]


def build(version: int, emb: HashingEmbedder | None = None):
    """The router of ``version`` (threshold 0.1 * (version + 1); centroids from seeded vectors)."""
    from ariadne_integrations.routing.router import AriadneRouter

    router = AriadneRouter(emb or embedder(), strategy="mean", threshold=0.1 * (version + 1), min_margin=None)
    for name in names(version):
        seed = int.from_bytes(hashlib.sha256(f"{version}/{name}".encode()).digest()[:4], "little")
        vecs = np.random.default_rng(seed).normal(size=(8, DIM)).astype(np.float32)
        router.add_adapter_embeddings(name, vecs)
    return router


def signature(router) -> tuple:
    """What identifies a version: threshold, adapter names in order, every adapter's centroid bytes."""
    return (router.threshold, router.min_margin, tuple(router.adapters),
            tuple(hashlib.sha256(router.centroids(n).tobytes()).hexdigest() for n in router.adapters))


def _save_loop(folder: str, seconds: float, first: int) -> None:
    """Save versions first, first + 1, ... (mod 3) into ``folder`` for ``seconds``.

    Prints "ready" once everything is imported and warmed up (one save into a scratch folder), so that a
    kill after "ready" lands in a real save; prints "saves N" at the end.
    """
    import tempfile

    routers = [build(v) for v in range(3)]
    with tempfile.TemporaryDirectory() as scratch:
        routers[0].save(Path(scratch) / "warm-up")
    print("ready", flush=True)
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        routers[(first + n) % 3].save(folder)
        n += 1
    print(f"saves {n}", flush=True)


if __name__ == "__main__":  # python -m tests.reliability.versions FOLDER SECONDS [FIRST_VERSION]
    _save_loop(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    sys.exit(0)
