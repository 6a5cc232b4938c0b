"""Fixtures for the LangChain tests.

- ``routing_index``: a real routing index (real MiniLM embedder) over the packaged demo data, with no
  adapter folders: for wiring tests with :class:`FakeBackend`.
- ``real_index``: the packaged demo index with its trained LoRA adapters when it exists, else a tiny
  index whose adapters are random-init LoRA adapters on the embedded backbone (built once per session).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from lc_helpers import DEMO_DATA, TASKS, FakeBackend, build_random_lora_index, demo_rows

@pytest.fixture(scope="session")
def held_out() -> dict[str, list[str]]:
    """Held-out demo inputs per task (the router never saw them)."""
    out: dict[str, list[str]] = {t: [] for t in TASKS}
    for r in demo_rows("test"):
        out[r["task"]].append(r["input"])
    return out




@pytest.fixture(scope="session")
def routing_router():
    from ariadne_integrations.routing.router import AriadneRouter

    return AriadneRouter.from_jsonl(DEMO_DATA / "all_train.jsonl", text_field="input", label_field="task")


@pytest.fixture(scope="session")
def routing_index(routing_router, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("lc_index") / "index"
    routing_router.save(folder)
    return folder


@pytest.fixture
def fake_backend() -> FakeBackend:
    return FakeBackend()


# --------------------------------------------------------------------------- real models
def _runtime_available() -> bool:
    return importlib.util.find_spec("ariadne_integrations.runtime.adapters") is not None


def _demo_index() -> Path | None:
    try:
        from ariadne_integrations.demo import demo_adapter_paths, demo_index_path

        demo_adapter_paths()
        return demo_index_path()
    except (ImportError, FileNotFoundError):
        return None


@pytest.fixture(scope="session")
def real_index(tmp_path_factory) -> Path:
    if not _runtime_available():
        pytest.skip("the adapter runtime (ariadne_integrations.runtime.adapters) is not available yet")
    demo = _demo_index()
    if demo is not None:
        return demo
    return build_random_lora_index(tmp_path_factory.mktemp("lora_pool"))
