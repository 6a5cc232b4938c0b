"""Real backbone (embedded SmolLM2) and real, small PEFT LoRA adapters made once per session."""
from __future__ import annotations

from pathlib import Path

import pytest


def make_random_lora(folder: Path, seed: int, targets=("q_proj", "v_proj"), r: int = 4) -> Path:
    """A real PEFT LoRA adapter with random (non-zero) A and B, so it visibly changes the outputs."""
    import torch
    from peft import LoraConfig, get_peft_model

    from ariadne_integrations.runtime.backbone import load_backbone

    torch.manual_seed(seed)
    bb = load_backbone(None, fresh=True)
    cfg = LoraConfig(task_type="CAUSAL_LM", r=r, lora_alpha=2 * r, target_modules=list(targets), init_lora_weights=False)
    model = get_peft_model(bb.model, cfg)
    model.save_pretrained(str(folder))
    return folder


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
