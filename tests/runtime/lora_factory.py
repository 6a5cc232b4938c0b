"""Real PEFT LoRA adapters with random weights, for tests and benchmarks."""
from __future__ import annotations

from pathlib import Path


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
