"""Real backbone (embedded SmolLM2) and real, small PEFT LoRA adapters made once per session."""
from __future__ import annotations

from pathlib import Path

import pytest

from ariadne_integrations.testing import make_random_lora


@pytest.fixture(scope="session")
def backbone():
    from ariadne_integrations.runtime.backbone import load_backbone

    return load_backbone()


@pytest.fixture(scope="session")
def lora_dirs(tmp_path_factory, backbone) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("loras")
    return {name: make_random_lora(root / name, seed) for name, seed in (("a", 1), ("b", 2), ("c", 3))}


@pytest.fixture(scope="session")
def runtime(backbone, lora_dirs):
    from ariadne_integrations.runtime.adapters import AdapterRuntime

    return AdapterRuntime(backbone, lora_dirs, max_loaded_adapters=8)
