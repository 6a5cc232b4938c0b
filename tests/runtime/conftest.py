"""Real backbone (embedded SmolLM2) and real, small PEFT LoRA adapters made once per session."""
from __future__ import annotations

from pathlib import Path

import pytest

from ariadne_integrations.testing import make_random_lora


def make_mixed_adapters(root: Path, seeds: tuple[int, int, int],
                        mlp_targets: tuple[str, ...] = ("gate_proj", "up_proj", "down_proj")) -> dict[str, Path]:
    """Three random adapters of different ranks and target modules (q/v r4, q/k/v/o r8, the MLP r2), so mixed
    batches exercise rank padding, fused groups and groups an adapter leaves alone."""
    return {
        "r4_qv": make_random_lora(root / "r4_qv", seeds[0], targets=("q_proj", "v_proj"), r=4),
        "r8_qkvo": make_random_lora(root / "r8_qkvo", seeds[1], targets=("q_proj", "k_proj", "v_proj", "o_proj"), r=8),
        "r2_mlp": make_random_lora(root / "r2_mlp", seeds[2], targets=mlp_targets, r=2),
    }


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
