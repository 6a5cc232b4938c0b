"""Fixtures for the LangChain tests.

- ``routing_index``: a real routing index (real MiniLM embedder) over the packaged demo data, with no
  adapter folders: for wiring tests with :class:`FakeBackend`.
- ``real_index``: the packaged demo index with its trained LoRA adapters.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from ariadne_integrations.demo import DEMO_TASKS as TASKS
from ariadne_integrations.demo import demo_data_path
from ariadne_integrations.routing.data import read_jsonl
from ariadne_integrations.testing import FakeBackend


@pytest.fixture(scope="session")
def held_out() -> dict[str, list[str]]:
    """Held-out demo inputs per task (the router never saw them)."""
    out: dict[str, list[str]] = {t: [] for t in TASKS}
    for text, task in read_jsonl(demo_data_path(split="test")):
        out[task].append(text)
    return out


@pytest.fixture(scope="session")
def routing_router():
    from ariadne_integrations.routing.router import AriadneRouter

    return AriadneRouter.from_jsonl(demo_data_path(), text_field="input", label_field="task")


@pytest.fixture(scope="session")
def routing_index(routing_router, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("lc_index") / "index"
    routing_router.save(folder)
    return folder


@pytest.fixture
def fake_backend() -> FakeBackend:
    return FakeBackend(TASKS)


# --------------------------------------------------------------------------- real models
@pytest.fixture(scope="session")
def real_index() -> Path:
    """The packaged demo index with its trained LoRA adapters."""
    from ariadne_integrations.demo import demo_adapter_paths, demo_index_path

    demo_adapter_paths()  # fails loudly if an adapter folder is missing
    return demo_index_path()
