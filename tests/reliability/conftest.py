"""Fixtures for the reliability suite: model-free routers (HashingEmbedder) and the real default embedder."""
from __future__ import annotations

import pytest

from ariadne_integrations.testing import HashingEmbedder
from tests.reliability import versions


@pytest.fixture(scope="session")
def hashing() -> HashingEmbedder:
    return versions.embedder()


@pytest.fixture(scope="session")
def real_embedder():
    """The real default embedder (offline MiniLM), loaded once: its tokenizer is what a bad text used to crash."""
    from ariadne_integrations.testing import DelegatingEmbedder

    return DelegatingEmbedder()


@pytest.fixture(scope="session")
def toy_real_router(real_embedder):
    from ariadne_integrations.routing.router import AriadneRouter
    from tests.routing.toy_data import TOY

    return AriadneRouter.from_examples({k: list(v) for k, v in TOY.items()}, embedder=real_embedder)
