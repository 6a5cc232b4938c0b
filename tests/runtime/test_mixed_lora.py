"""The fast mixed-adapter LoRA path gives the same logits as peft's own per-adapter loop."""
from __future__ import annotations

import pytest

from ariadne_integrations.runtime.mixed_lora import fast_mixed_batch
from tests.runtime.conftest import make_mixed_adapters

PROMPTS = ["Reply with one word: hello", "Summarise: the meeting moved to Tuesday.", "2 + 2 =", "Say hi", "Name a fruit"]


@pytest.fixture(scope="module")
def mixed_runtime(tmp_path_factory, backbone):
    """Adapters with different ranks and target modules, so padding and missing layers are exercised."""
    from ariadne_integrations.runtime.adapters import AdapterRuntime

    dirs = make_mixed_adapters(tmp_path_factory.mktemp("mixed"), (11, 12, 13), mlp_targets=("up_proj", "down_proj"))
    return AdapterRuntime(backbone, dirs, max_loaded_adapters=8)


def test_fast_path_matches_peft_logits(mixed_runtime):
    import torch

    rt = mixed_runtime
    adapters = ["r4_qv", "r8_qkvo", None, "r2_mlp", "r4_qv"]
    shared = rt._shared()
    with shared.lock:
        names, failed = rt._adapter_names(adapters)
        assert not failed
        batch, _ = rt._encode(PROMPTS, rt_config())
        with torch.inference_mode():
            reference = shared.peft(**batch, adapter_names=names).logits
            with fast_mixed_batch(shared.peft, names) as n_fast:
                fast = shared.peft(**batch, adapter_names=names).logits
            after = shared.peft(**batch, adapter_names=names).logits
    assert n_fast > 0  # the fast path really served some layers
    # float32 summation order differs (logits ~20, observed max diff ~3e-4)
    assert torch.allclose(fast, reference, atol=2e-3, rtol=1e-4), (fast - reference).abs().max()
    assert torch.equal(after, reference)  # the patch is gone after the block
    # and the adapters really differ per row (the comparison is not vacuous)
    assert not torch.allclose(reference[0], reference[2], atol=1e-3)


def test_mixed_generate_equals_one_by_one(mixed_runtime):
    from ariadne_integrations.runtime.generation import GenerationConfig

    adapters = ["r4_qv", "r8_qkvo", None, "r2_mlp", "r4_qv"]
    cfg = GenerationConfig(max_new_tokens=8)
    batched = mixed_runtime.generate(PROMPTS, adapters, cfg)
    single = [mixed_runtime.generate([p], [a], cfg)[0] for p, a in zip(PROMPTS, adapters)]
    assert [r.adapter for r in batched] == adapters
    assert [r.text for r in batched] == [r.text for r in single]


def test_runtime_can_use_peft_own_mixed_loop(mixed_runtime):
    from ariadne_integrations.runtime.adapters import AdapterRuntime
    from ariadne_integrations.runtime.generation import GenerationConfig

    adapters = ["r4_qv", "r8_qkvo", None, "r2_mlp", "r4_qv"]
    peft_loop = AdapterRuntime(mixed_runtime.backbone, dict(mixed_runtime._registry), fast_mixed_lora=False)
    cfg = GenerationConfig(max_new_tokens=8)
    assert [r.text for r in peft_loop.generate(PROMPTS, adapters, cfg)] == [
        r.text for r in mixed_runtime.generate(PROMPTS, adapters, cfg)]


def test_installed_peft_has_the_patched_private_hooks():
    from ariadne_integrations.runtime.mixed_lora import peft_supports_fast_mixed_batch

    assert peft_supports_fast_mixed_batch()


@pytest.mark.parametrize("owner, attr", [("LoraLayer", "_mixed_batch_forward"), (None, "VARIANT_KWARG_KEYS")])
def test_missing_peft_hook_falls_back_to_peft_with_one_warning(monkeypatch, caplog, owner, attr):
    import logging

    from peft.tuners.lora import layer

    from ariadne_integrations.runtime import mixed_lora

    monkeypatch.delattr(getattr(layer, owner) if owner else layer, attr)
    monkeypatch.setattr(mixed_lora, "_warned_unsupported", False)
    assert not mixed_lora.peft_supports_fast_mixed_batch()
    with caplog.at_level(logging.WARNING, logger=mixed_lora.__name__):
        for _ in range(2):
            with fast_mixed_batch(object(), ["x"]) as n_fast:  # a bare object: nothing may be patched
                assert n_fast == 0
    assert caplog.text.count("peft's own slower path") == 1
    assert attr in caplog.text or "_mixed_batch_forward" in caplog.text


def rt_config():
    from ariadne_integrations.runtime.generation import GenerationConfig

    return GenerationConfig(max_new_tokens=1)
