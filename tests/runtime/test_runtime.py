"""AdapterRuntime end to end with the real backbone and real LoRA adapters."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from safetensors.torch import load_file, save_file

from ariadne_integrations.errors import AdapterLoadError, InvalidInputError, PromptTooLongError, UnknownAdapterError
from ariadne_integrations.runtime.adapters import AdapterRuntime
from ariadne_integrations.runtime.generation import GenerationConfig

GREEDY = GenerationConfig(max_new_tokens=8)
PROMPTS = ["Name a colour.", "What is 2 plus 2?", "Say hello in French.", "Name a fruit."]


def test_adapters_change_outputs(runtime):
    outs = runtime.generate([PROMPTS[0]] * 3, [None, "a", "b"], GREEDY)
    texts = [o.text for o in outs]
    assert texts[1] != texts[0] and texts[2] != texts[0] and texts[1] != texts[2]
    assert [o.adapter for o in outs] == [None, "a", "b"]


def test_mixed_batch_equals_one_by_one(runtime):
    adapters = ["a", "b", None, "c"]
    mixed = runtime.generate(PROMPTS, adapters, GREEDY)
    single = [runtime.generate([p], [a], GREEDY)[0] for p, a in zip(PROMPTS, adapters)]
    assert [m.text for m in mixed] == [s.text for s in single]
    assert [m.completion_tokens for m in mixed] == [s.completion_tokens for s in single]


def test_concurrent_threads_never_leak_adapters(runtime):
    jobs = [(p, a) for p in PROMPTS[:2] for a in ("a", "b", "c", None)]
    expected = {(p, a): runtime.generate([p], [a], GREEDY)[0].text for p, a in jobs}
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda job: runtime.generate([job[0]], [job[1]], GREEDY)[0].text, jobs * 2))
    assert got == [expected[j] for j in jobs * 2]


def test_token_counts_and_length_finish(runtime, backbone):
    res = runtime.generate(["Tell me a long story about a dragon."], ["a"], GenerationConfig(max_new_tokens=5))[0]
    rendered = backbone.tokenizer.apply_chat_template(
        [{"role": "user", "content": "Tell me a long story about a dragon."}], tokenize=False, add_generation_prompt=True)
    assert res.prompt_tokens == len(backbone.tokenizer(rendered, add_special_tokens=False)["input_ids"])
    assert res.completion_tokens == 5 and res.finish_reason == "length"
    assert res.total_tokens == res.prompt_tokens + 5


def test_stop_strings_really_stop(runtime):
    cfg = GenerationConfig(max_new_tokens=24)
    full = runtime.generate([PROMPTS[2]], [None], cfg)[0].text
    words = full.split()
    assert len(words) >= 3, full
    stop = words[2]
    res = runtime.generate([PROMPTS[2]], [None], GenerationConfig(max_new_tokens=24, stop=(stop,)))[0]
    assert res.text == full[: full.find(stop)]
    assert res.finish_reason == "stop" and res.stop_sequence == stop
    assert res.completion_tokens < runtime.generate([PROMPTS[2]], [None], cfg)[0].completion_tokens or stop in full[-len(stop):]


def test_stream_matches_generate(runtime):
    cfg = GenerationConfig(max_new_tokens=12)
    chunks = list(runtime.stream(PROMPTS[3], "b", cfg))
    assert chunks[-1].final and all(not c.final for c in chunks[:-1])
    text = "".join(c.text for c in chunks)
    ref = runtime.generate([PROMPTS[3]], ["b"], cfg)[0]
    assert text == ref.text
    assert chunks[-1].completion_tokens == ref.completion_tokens and chunks[-1].prompt_tokens == ref.prompt_tokens


def test_stream_honours_stop(runtime):
    full = runtime.generate([PROMPTS[2]], [None], GenerationConfig(max_new_tokens=24))[0].text
    stop = full.split()[2]
    cfg = GenerationConfig(max_new_tokens=24, stop=(stop,))
    chunks = list(runtime.stream(PROMPTS[2], None, cfg))
    assert "".join(c.text for c in chunks) == full[: full.find(stop)]
    assert chunks[-1].finish_reason == "stop"


def test_stream_uses_the_shared_stop_hold_back(runtime, monkeypatch):
    """The runtime emits exactly what the shared helper lets through (as the server backend does)."""
    import ariadne_integrations.runtime.adapters as adapters_mod
    from ariadne_integrations.runtime.stops import StopHoldBack

    returned: list[str] = []

    class Recording(StopHoldBack):
        def feed(self, piece: str) -> str:
            out = super().feed(piece)
            returned.append(out)
            return out

        def flush(self) -> str:
            out = super().flush()
            returned.append(out)
            return out

    monkeypatch.setattr(adapters_mod, "StopHoldBack", Recording)
    full = runtime.generate([PROMPTS[2]], [None], GenerationConfig(max_new_tokens=24))[0].text
    stop = full.split()[2]
    chunks = list(runtime.stream(PROMPTS[2], None, GenerationConfig(max_new_tokens=24, stop=(stop,))))
    assert returned, "the runtime's stream did not go through StopHoldBack"
    assert [c.text for c in chunks[:-1]] == [r for r in returned if r]
    assert "".join(returned) == full[: full.find(stop)]


def test_sampling_follows_temperature_and_seed(runtime):
    """temperature > 0 samples (seeds give different answers, one seed the same one); temperature -> 0
    converges on greedy. A sampler that ignores the temperature (always greedy, or always at 1.0) fails."""
    prompt, adapter = PROMPTS[0], "a"
    greedy = runtime.generate([prompt], [adapter], GREEDY)[0].text

    def sample(temperature: float, seed: int) -> str:
        cfg = GenerationConfig(max_new_tokens=GREEDY.max_new_tokens, temperature=temperature, seed=seed)
        return runtime.generate([prompt], [adapter], cfg)[0].text

    hot = [sample(1.0, seed) for seed in range(4)]
    assert len(set(hot)) >= 3, hot  # really sampled: different seeds, different answers
    assert sample(1.0, 2) == hot[2]  # a seed reproduces its answer
    cold = [sample(1e-4, seed) for seed in range(2)]
    assert cold == [greedy] * 2, (cold, greedy)  # a tiny temperature is (almost surely) greedy, whatever the seed


def test_lru_bound_unloads_least_recently_used(backbone, lora_dirs):
    rt = AdapterRuntime(backbone, lora_dirs, max_loaded_adapters=2)
    for name in ("a", "b", "c"):
        rt.load_adapter(name)
    assert set(rt.loaded_adapters) == {"b", "c"}
    rt.unload_adapter("b")
    assert rt.loaded_adapters == ["c"]
    # A batch that needs more adapters than the bound still runs, and every row is answered by its own
    # adapter: each row equals that (prompt, adapter) generated alone.
    rows = [(PROMPTS[0], "a"), (PROMPTS[0], "b"), (PROMPTS[0], "c"), (PROMPTS[1], "a"), (PROMPTS[0], None)]
    solo = [rt.generate([p], [a], GREEDY)[0].text for p, a in rows]
    assert len(set(solo[:3] + solo[4:])) == 4, solo  # the adapters really differ, so a swapped row would show
    out = rt.generate([p for p, _ in rows], [a for _, a in rows], GREEDY)
    assert [r.adapter for r in out] == [a for _, a in rows]
    assert [r.text for r in out] == solo
    assert len(rt.loaded_adapters) == 3  # the batch kept all it needed ...
    assert rt.generate([PROMPTS[0]], ["b"], GREEDY)[0].text == solo[1]
    assert len(rt.loaded_adapters) == 2 and "b" in rt.loaded_adapters  # ... and the next call trims back to the bound


def test_unknown_and_bad_adapters(tmp_path, backbone, runtime, lora_dirs):
    with pytest.raises(UnknownAdapterError, match="registered adapters: a, b, c"):
        runtime.generate(["hi"], ["nope"], GREEDY)
    with pytest.raises(AdapterLoadError, match="does not exist"):
        runtime.register_adapter("x", tmp_path / "missing")
    (tmp_path / "notpeft").mkdir()
    with pytest.raises(AdapterLoadError, match="not a PEFT adapter"):
        runtime.register_adapter("x", tmp_path / "notpeft")


def test_adapter_for_other_base_model_fails_cleanly(tmp_path, backbone, runtime, lora_dirs):
    bad = tmp_path / "bad"
    bad.mkdir()
    src = lora_dirs["a"]
    (bad / "adapter_config.json").write_text((src / "adapter_config.json").read_text())
    weights = load_file(str(src / "adapter_model.safetensors"))
    import torch

    weights = {k: (torch.zeros(v.shape[0], v.shape[1] * 2) if ".lora_A." in k else v) for k, v in weights.items()}
    save_file(weights, str(bad / "adapter_model.safetensors"))
    rt = AdapterRuntime(backbone, {"a": src, "bad": bad})
    before = rt.generate([PROMPTS[0]], ["a"], GREEDY)[0].text
    with pytest.raises(AdapterLoadError, match="different base model"):
        rt.generate([PROMPTS[0]], ["bad"], GREEDY)
    assert rt.generate([PROMPTS[0]], ["a"], GREEDY)[0].text == before


@pytest.mark.parametrize(
    "prompts, adapters",
    [([], []), ([""], [None]), (["  "], [None]), ([3], [None]), (["hi"], [None, None]), ("hi", [None, None])],
)
def test_bad_prompts(runtime, prompts, adapters):
    with pytest.raises(InvalidInputError):
        runtime.generate(prompts, adapters, GREEDY)


def test_bad_config():
    with pytest.raises(InvalidInputError):
        GenerationConfig(stop=("",))
    with pytest.raises(InvalidInputError):
        GenerationConfig(max_new_tokens=0)


def test_long_prompt_is_refused_not_truncated(runtime, backbone, monkeypatch):
    """Keeping the tail cut the instruction; now the caller is told by how much to shorten (README: long prompts)."""
    monkeypatch.setattr(type(backbone), "context_window", property(lambda self: 64))
    with pytest.raises(PromptTooLongError, match="leaves 60 after max_new_tokens=4") as info:
        runtime.generate(["word " * 200], [None], GenerationConfig(max_new_tokens=4))
    assert info.value.limit == 60 and info.value.prompt_tokens > 60


def test_chat_messages_prompt(runtime):
    msgs = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Name a colour."}]
    res = runtime.generate([msgs], [None], GREEDY)[0]
    assert res.text and res.prompt_tokens > 5


def test_second_load_uses_cache_not_conversion(monkeypatch, backbone):
    import ariadne_integrations.runtime.backbone as bbmod

    def boom(*a, **k):
        raise AssertionError("conversion must not run again")

    monkeypatch.setattr(bbmod, "convert_gguf", boom)
    fresh = bbmod.load_backbone(None, fresh=True)
    assert fresh.model is not backbone.model
    assert bbmod.load_backbone() is backbone  # process-wide cache


def test_cached_backbone_is_not_wrapped_twice(backbone, lora_dirs):
    a = AdapterRuntime(backbone, {"x": lora_dirs["a"]})
    b = AdapterRuntime(backbone, {"y": lora_dirs["a"]})
    ra = a.generate([PROMPTS[0]], ["x"], GREEDY)[0].text
    rb = b.generate([PROMPTS[0]], ["y"], GREEDY)[0].text
    assert ra == rb
    assert json.loads((lora_dirs["a"] / "adapter_config.json").read_text())["r"] == 4


def test_base_answers_after_every_adapter_is_unloaded(backbone, lora_dirs):
    rt = AdapterRuntime(backbone, {"a": lora_dirs["a"]}, max_loaded_adapters=1)
    base = rt.generate([PROMPTS[0]], [None], GREEDY)[0].text
    with_a = rt.generate([PROMPTS[0]], ["a"], GREEDY)[0].text
    rt.unload_adapter("a")
    assert rt.generate([PROMPTS[0]], [None], GREEDY)[0].text == base
    assert "".join(c.text for c in rt.stream(PROMPTS[0], None, GREEDY)) == base
    assert rt.generate([PROMPTS[0]], ["a"], GREEDY)[0].text == with_a  # reloads on demand
    rt.register_adapter("b", lora_dirs["b"])
    rt.unload_adapter("a")
    assert rt.generate([PROMPTS[0]], ["b"], GREEDY)[0].text not in (base, with_a)  # a new one after the last left


def test_adapter_targeting_missing_layer_fails_cleanly(tmp_path, backbone, lora_dirs):
    bad = tmp_path / "other_arch"
    bad.mkdir()
    src = lora_dirs["b"]
    cfg = json.loads((src / "adapter_config.json").read_text())
    cfg["target_modules"] = ["qkv_proj"]
    (bad / "adapter_config.json").write_text(json.dumps(cfg))
    weights = load_file(str(src / "adapter_model.safetensors"))
    save_file({k.replace("q_proj", "qkv_proj"): v for k, v in weights.items()}, str(bad / "adapter_model.safetensors"))
    rt = AdapterRuntime(backbone, {"b": src, "bad": bad})
    before = rt.generate([PROMPTS[1]], ["b"], GREEDY)[0].text
    with pytest.raises(AdapterLoadError, match="does not have"):
        rt.generate([PROMPTS[1], PROMPTS[1]], ["b", "bad"], GREEDY)
    assert "bad" not in rt.loaded_adapters
    assert rt.generate([PROMPTS[1]], ["b"], GREEDY)[0].text == before


def test_adapter_config_rank_mismatch_fails_cleanly(tmp_path, backbone, lora_dirs):
    bad = tmp_path / "rank"
    bad.mkdir()
    src = lora_dirs["c"]
    cfg = json.loads((src / "adapter_config.json").read_text())
    cfg["r"] = 16  # weights have r=4: peft's load_state_dict size mismatch
    (bad / "adapter_config.json").write_text(json.dumps(cfg))
    (bad / "adapter_model.safetensors").write_bytes((src / "adapter_model.safetensors").read_bytes())
    rt = AdapterRuntime(backbone, {"c": src, "bad": bad})
    before = rt.generate([PROMPTS[0]] * 2, ["c", None], GREEDY)
    with pytest.raises(AdapterLoadError):
        rt.generate([PROMPTS[0]], ["bad"], GREEDY)
    assert "bad" not in rt.loaded_adapters
    after = rt.generate([PROMPTS[0]] * 2, ["c", None], GREEDY)
    assert [r.text for r in after] == [r.text for r in before]


def test_all_base_batch_equals_base_rows_of_a_mixed_batch(runtime):
    base_only = runtime.generate(PROMPTS[:2], [None, None], GREEDY)  # adapters switched off for the call
    mixed = runtime.generate(PROMPTS[:2] + PROMPTS[:1], [None, None, "a"], GREEDY)  # "__base__" rows
    assert [r.text for r in base_only] == [r.text for r in mixed[:2]]
