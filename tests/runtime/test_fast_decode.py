"""The fast decode loop (runtime/fast_decode.py) answers as transformers' generate does, on the real backbone.

Adapters of different ranks and target modules (so fused groups, rank padding and untouched groups are exercised),
mixed with bare-backbone rows, left-padded prompts of different lengths.
"""
from __future__ import annotations

import pytest

from ariadne_integrations.runtime.generation import GenerationConfig
from ariadne_integrations.testing import make_random_lora
from tests.runtime.conftest import make_mixed_adapters

PROMPTS = ["Reply with one word: hello", "Summarise: the meeting moved to Tuesday and the budget is due on Friday.",
           "2 + 2 =", "Say hi", "Name a fruit"]
ADAPTERS = ["r4_qv", "r8_qkvo", None, "r2_mlp", "r4_qv"]


@pytest.fixture(scope="module")
def runtimes(tmp_path_factory, backbone):
    """(fast loop, generate) over the same shared model and adapters."""
    from ariadne_integrations.runtime.adapters import AdapterRuntime

    dirs = make_mixed_adapters(tmp_path_factory.mktemp("fastdecode"), (21, 22, 23))
    return AdapterRuntime(backbone, dirs), AdapterRuntime(backbone, dirs, fast_decode=False)


def _last_logits(rt, adapters):
    """(the fast loop's prefill logits, peft's logits at the last position) for PROMPTS with ``adapters``."""
    import torch

    from ariadne_integrations.runtime.fast_decode import lora_plan
    from ariadne_integrations.runtime.mixed_lora import fast_mixed_batch

    shared = rt._shared()
    with shared.lock:  # adapters load outside inference mode (as the runtime does): peft re-marks their params later
        names, failed = rt._adapter_names(adapters)
        assert not failed
    with shared.lock, torch.inference_mode():
        batch, _ = rt._encode(PROMPTS, GenerationConfig())
        decoder = shared.fast_decoder()
        assert decoder is not None, "the embedded Llama backbone must be served by the fast loop"
        plan = None if names is None else lora_plan(shared.backbone.model, names)
        assert not isinstance(plan, str), plan
        ids, mask = batch["input_ids"], batch["attention_mask"]
        out = decoder.generate(ids, mask, max_new_tokens=1, eos_token_ids=[-1], pad_token_id=0, plan=plan,
                               logits_processor=_Capture())
        if names is None:  # no row uses an adapter
            with shared.peft.disable_adapter():
                ref = shared.peft(**batch).logits[:, -1]
        else:
            with fast_mixed_batch(shared.peft, names):
                ref = shared.peft(**batch, adapter_names=names).logits[:, -1]
    assert out.shape == (len(PROMPTS), ids.shape[1] + 1)
    return _Capture.last, ref


class _Capture:
    """A logits processor that keeps the scores it sees (the loop's first-step logits)."""

    last = None

    def __call__(self, input_ids, scores):
        _Capture.last = scores.clone()
        return scores


def test_prefill_logits_match_peft_mixed_batch(runtimes):
    import torch

    fast, _ = runtimes
    ours, ref = _last_logits(fast, ADAPTERS)
    # float32, different summation order (fused products): logits ~20, differences ~1e-4
    assert torch.allclose(ours, ref.float(), atol=2e-3, rtol=1e-4), (ours - ref).abs().max()
    assert torch.equal(ours.argmax(-1), ref.argmax(-1))
    # the adapters really change the rows (the comparison is not vacuous)
    plain, _ = _last_logits(fast, [None] * len(PROMPTS))
    assert not torch.allclose(ours[1], plain[1], atol=1e-2)
    assert torch.allclose(ours[2], plain[2], atol=2e-3)  # the bare-backbone row is the bare backbone


def test_greedy_answers_equal_generate_mixed_and_uniform(runtimes):
    fast, slow = runtimes
    cfg = GenerationConfig(max_new_tokens=12)
    for adapters in (ADAPTERS, ["r8_qkvo"] * len(PROMPTS), [None] * len(PROMPTS)):
        a, b = fast.generate(PROMPTS, adapters, cfg), slow.generate(PROMPTS, adapters, cfg)
        assert [(r.text, r.completion_tokens, r.finish_reason) for r in a] == \
               [(r.text, r.completion_tokens, r.finish_reason) for r in b], adapters
        assert [r.adapter for r in a] == adapters


def test_stop_strings_stream_and_sampling_follow_generate(runtimes):
    fast, slow = runtimes
    stop = GenerationConfig(max_new_tokens=16, stop=(".", "\n"))
    a, b = fast.generate(PROMPTS, ADAPTERS, stop), slow.generate(PROMPTS, ADAPTERS, stop)
    assert [(r.text, r.stop_sequence, r.finish_reason) for r in a] == [(r.text, r.stop_sequence, r.finish_reason) for r in b]
    cfg = GenerationConfig(max_new_tokens=10)
    for prompt, adapter in zip(PROMPTS[:3], ADAPTERS[:3]):
        chunks = list(fast.stream(prompt, adapter, cfg))
        assert chunks[-1].final and chunks[-1].completion_tokens >= 1
        assert "".join(c.text for c in chunks) == slow.generate([prompt], [adapter], cfg)[0].text
    # top_k=1 sampling is greedy whatever the temperature: the warpers really run in the loop
    greedy = [r.text for r in fast.generate(PROMPTS, ADAPTERS, cfg)]
    top1 = GenerationConfig(max_new_tokens=10, temperature=1.5, top_k=1, seed=7)
    assert [r.text for r in fast.generate(PROMPTS, ADAPTERS, top1)] == greedy
    # a seed reproduces a sampled answer; sampling with a high temperature leaves greedy somewhere
    hot = GenerationConfig(max_new_tokens=10, temperature=1.5, seed=11)
    first, again = fast.generate(PROMPTS, ADAPTERS, hot), fast.generate(PROMPTS, ADAPTERS, hot)
    assert [r.text for r in first] == [r.text for r in again]
    assert [r.text for r in first] != greedy
    # repetition penalty changes answers the same way in both
    pen = GenerationConfig(max_new_tokens=12, repetition_penalty=1.5)
    assert [r.text for r in fast.generate(PROMPTS, ADAPTERS, pen)] == [r.text for r in slow.generate(PROMPTS, ADAPTERS, pen)]


def test_demo_pool_answers_unchanged():
    """The demo prompts answered through the fast loop equal generate's (and the expected answers)."""
    from ariadne_integrations.demo import demo_adapter_paths, demo_examples
    from ariadne_integrations.runtime.adapters import AdapterRuntime

    paths = demo_adapter_paths()
    examples = demo_examples()
    prompts, tasks = [e["prompt"] for e in examples], [e["task"] for e in examples]
    cfg = GenerationConfig(max_new_tokens=32)
    fast = AdapterRuntime(None, paths).generate(prompts, tasks, cfg)
    slow = AdapterRuntime(None, paths, fast_decode=False).generate(prompts, tasks, cfg)
    assert [r.text for r in fast] == [r.text for r in slow]


def test_unsupported_models_and_adapters_fall_back(runtimes, tmp_path):
    """Another architecture, biases or LoRA outside q/k/v/o + MLP: generate answers (the loop says why)."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    from ariadne_integrations.runtime.fast_decode import FastDecoder

    tiny = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
            "num_key_value_heads": 1, "vocab_size": 100}
    assert FastDecoder.supports(LlamaForCausalLM(LlamaConfig(**tiny))) is None
    assert "biases" in FastDecoder.supports(LlamaForCausalLM(LlamaConfig(**tiny, attention_bias=True)))
    assert "qwen2" in FastDecoder.supports(Qwen2ForCausalLM(Qwen2Config(**tiny)))
    assert "on meta" in FastDecoder.supports(LlamaForCausalLM(LlamaConfig(**tiny)).to("meta"))  # not a CPU backbone
    from ariadne_integrations.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="cannot serve"):
        FastDecoder(Qwen2ForCausalLM(Qwen2Config(**tiny)))

    fast, slow = runtimes
    folder = make_random_lora(tmp_path / "head", 5, targets=("q_proj", "lm_head"), r=2)
    fast.register_adapter("head", folder)
    slow.register_adapter("head", folder)
    from ariadne_integrations.runtime.fast_decode import lora_plan

    shared = fast._shared()
    with shared.lock:
        names, _ = fast._adapter_names(["head", None])
        assert "lm_head" in lora_plan(shared.backbone.model, names)
    cfg = GenerationConfig(max_new_tokens=8)
    assert [r.text for r in fast.generate(PROMPTS[:2], ["head", None], cfg)] == \
           [r.text for r in slow.generate(PROMPTS[:2], ["head", None], cfg)]
    fast.unregister_adapter("head")
    slow.unregister_adapter("head")


def test_adapter_layouts_are_cached_per_adapter_and_forgotten_on_unload(runtimes, tmp_path):
    """The shared model lays each adapter's LoRA products out once; the plan it builds from them equals a fresh
    one, and loading or unloading an adapter drops the cache (so a reloaded adapter never serves stale weights)."""
    import torch

    from ariadne_integrations.runtime.fast_decode import lora_plan

    fast, _ = runtimes
    shared = fast._shared()
    with shared.lock:
        names, _ = fast._adapter_names(["r4_qv", "r2_mlp", None])
        first = shared.lora_plan(names)
        layout = shared._products[names[0]]
        again = shared.lora_plan(names)
        assert shared._products[names[0]] is layout, "a second call must reuse the adapter's layout"
        fresh = lora_plan(shared.backbone.model, names)
        for got, want, other in zip(first, fresh, again):
            for g, w, o in zip(got, want, other):
                assert (g is None) == (w is None) == (o is None)
                if g is not None:
                    for gt, wt in zip(g, w):
                        assert (gt is None and wt is None) or torch.equal(gt, wt)
        assert any(g is not None for g in first[0]), "r4_qv adapts q/v of every layer"
    folder = make_random_lora(tmp_path / "extra", 9, targets=("q_proj",), r=2)
    fast.register_adapter("extra", folder)
    fast.generate(["hi"], ["extra"], GenerationConfig(max_new_tokens=1))
    assert names[0] not in shared._products, "loading an adapter clears the layouts"
    fast.unregister_adapter("extra")


def test_fast_decode_flag_must_be_bool(backbone):
    from ariadne_integrations.errors import InvalidInputError
    from ariadne_integrations.runtime.adapters import AdapterRuntime

    with pytest.raises(InvalidInputError, match="fast_decode must be True or False"):
        AdapterRuntime(backbone, fast_decode="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="fast_mixed_lora"):
        AdapterRuntime(backbone, fast_mixed_lora=1)  # type: ignore[arg-type]
