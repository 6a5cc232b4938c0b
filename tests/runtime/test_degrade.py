"""Issue 13 §4: broken adapters are caught at load, fail only their own rows, and leave the model clean."""
from __future__ import annotations

import json
import shutil

import pytest
from safetensors.torch import load_file, save_file

from ariadne_integrations import errors
from ariadne_integrations.errors import AdapterLoadError, InvalidInputError
from ariadne_integrations.runtime.adapters import AdapterRuntime
from ariadne_integrations.runtime.generation import GenerationConfig

GREEDY = GenerationConfig(max_new_tokens=4)
PROMPT = "Name a colour."


def _copy(src, dst, *, config=None, weights=None):
    dst.mkdir()
    cfg = json.loads((src / "adapter_config.json").read_text())
    (dst / "adapter_config.json").write_text(json.dumps({**cfg, **(config or {})}))
    w = load_file(str(src / "adapter_model.safetensors"))
    save_file(weights(w) if weights else w, str(dst / "adapter_model.safetensors"))
    return dst


def _lora_modules(model) -> int:
    return sum(1 for n, _ in model.named_modules() if n.endswith(("lora_A", "lora_B")))


@pytest.mark.parametrize("kind, match", [
    ("other_base", "HuggingFaceTB/SmolLM2-135M"),
    ("no_lora", "no LoRA"),
    ("nan", "NaN"),
])
def test_suspicious_adapters_are_refused_at_load(tmp_path, backbone, lora_dirs, kind, match):
    src = lora_dirs["a"]
    if kind == "other_base":  # same shapes (the base SmolLM2-135M), another model: answers would be silently off
        bad = _copy(src, tmp_path / kind, config={"base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M"})
    elif kind == "no_lora":
        bad = _copy(src, tmp_path / kind, weights=lambda w: {k.replace("lora_", "x_"): v for k, v in w.items()})
    else:
        bad = _copy(src, tmp_path / kind, weights=lambda w: {k: (v * float("nan") if i == 0 else v)
                                                             for i, (k, v) in enumerate(w.items())})
    rt = AdapterRuntime(backbone, {"a": src, "bad": bad})
    with pytest.raises(AdapterLoadError, match=match):
        rt.load_adapter("bad")
    assert "bad" not in rt.loaded_adapters


def test_broken_adapter_fails_only_its_rows(tmp_path, backbone, lora_dirs):
    gone = shutil.copytree(lora_dirs["b"], tmp_path / "gone")
    rt = AdapterRuntime(backbone, {"a": lora_dirs["a"], "gone": gone})
    shutil.rmtree(gone)  # the folder became unreachable after registration
    alone = [r.text for r in rt.generate([PROMPT, PROMPT], ["a", None], GREEDY)]
    with pytest.raises(errors.PartialBatchError) as info:
        rt.generate([PROMPT, PROMPT, PROMPT], ["a", "gone", None], GREEDY)
    exc = info.value
    assert isinstance(exc, AdapterLoadError) and "does not exist" in str(exc)
    assert set(exc.row_errors) == {1}
    assert [r.text for r in (exc.results[0], exc.results[2])] == alone  # the healthy rows, one batch
    assert exc.results[1] is None


def test_long_prompt_raises_a_clear_error(runtime, backbone, monkeypatch):
    monkeypatch.setattr(type(backbone), "context_window", property(lambda self: 64))
    with pytest.raises(errors.PromptTooLongError, match=r"prompts\[1\] has \d+ tokens.*60") as info:
        runtime.generate(["hi", "word " * 200], [None, None], GenerationConfig(max_new_tokens=4))
    assert isinstance(info.value, InvalidInputError)
    assert runtime.generate(["word " * 20], [None], GenerationConfig(max_new_tokens=4))[0].prompt_tokens <= 60


@pytest.mark.parametrize("first", [True, False])
def test_failed_load_leaves_no_lora_modules_behind(tmp_path, lora_dirs, first):
    from ariadne_integrations.runtime.backbone import load_backbone

    bb = load_backbone(None, fresh=True)  # its own model: a clean count
    rank_mismatch = _copy(lora_dirs["c"], tmp_path / "rank", config={"r": 16})  # peft fails after injecting
    rt = AdapterRuntime(bb, {"a": lora_dirs["a"], "bad": rank_mismatch})
    if not first:
        rt.load_adapter("a")
    before = _lora_modules(bb.model)
    base = rt.generate([PROMPT], [None], GREEDY)[0].text
    with pytest.raises(AdapterLoadError):
        rt.load_adapter("bad")
    assert _lora_modules(bb.model) == before
    assert rt.generate([PROMPT], [None], GREEDY)[0].text == base
    if not first:
        assert rt.loaded_adapters == ["a"]
    else:
        assert rt.generate([PROMPT], ["a"], GREEDY)[0].text  # the model still takes adapters

