"""A non-default backbone given by folder, end to end: the embedded SmolLM2 saved to a folder of the user's
(``save_pretrained``, model and tokenizer) and loaded by path through the runtime and the LangChain LLM answers
exactly like the default; a folder without a model is a BackboneLoadError that says what is wrong."""
from __future__ import annotations

import json

import pytest

from ariadne_integrations.errors import BackboneLoadError
from ariadne_integrations.runtime.adapters import AdapterRuntime
from ariadne_integrations.runtime.backbone import load_backbone
from ariadne_integrations.runtime.generation import GenerationConfig

pytestmark = pytest.mark.slow
GREEDY = GenerationConfig(max_new_tokens=8)
PROMPTS = ["Name a colour.", "What is 2 plus 2? Answer in one short sentence."]  # two lengths: left padding matters


@pytest.fixture(scope="module")
def backbone_folder(tmp_path_factory):
    bb = load_backbone(None, fresh=True)  # a private copy: the shared one may carry injected LoRA layers
    folder = tmp_path_factory.mktemp("backbones") / "my-smollm2"
    bb.model.save_pretrained(str(folder))
    bb.tokenizer.save_pretrained(str(folder))
    return folder


def test_runtime_with_backbone_folder_answers_like_the_default(backbone_folder, backbone):
    mine = AdapterRuntime(backbone=str(backbone_folder))
    assert mine.model_name == str(backbone_folder)  # known before loading
    assert mine.backbone.path == str(backbone_folder) and mine.backbone.model is not backbone.model
    got = mine.generate(PROMPTS, None, GREEDY)
    want = AdapterRuntime(backbone).generate(PROMPTS, None, GREEDY)
    assert [r.text for r in got] == [r.text for r in want], ([r.text for r in got], [r.text for r in want])
    assert [r.prompt_tokens for r in got] == [r.prompt_tokens for r in want]
    assert all(r.text.strip() for r in got)


def test_llm_with_backbone_folder_routes_and_answers_like_the_default(backbone_folder):
    from ariadne_integrations.demo import demo_adapter_paths, demo_data_path, demo_index_path
    from ariadne_integrations.langchain import AriadneLLM

    demo_adapter_paths()
    rows = {}
    for line in demo_data_path(None, "test").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        rows.setdefault(rec["task"], rec)
    queries = [rows["sentiment"]["input"], rows["date_iso"]["input"]]
    mine = AriadneLLM(index=demo_index_path(), backbone=str(backbone_folder), max_new_tokens=12)
    default = AriadneLLM(index=demo_index_path(), max_new_tokens=12)
    got, want = mine.generate(queries), default.generate(queries)
    assert [g[0].text for g in got.generations] == [g[0].text for g in want.generations]
    assert [g[0].generation_info["adapter"] for g in got.generations] == ["sentiment", "date_iso"]
    assert got.llm_output["model_name"] == str(backbone_folder)  # traces name the user's backbone


def test_folder_without_a_model_is_a_clear_backbone_load_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BackboneLoadError, match=r"empty is not a model folder \(no config\.json\)"):
        AdapterRuntime(backbone=str(empty)).generate(["hi"], None, GREEDY)
    no_weights = tmp_path / "config-only"
    no_weights.mkdir()
    (no_weights / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(BackboneLoadError, match=r"could not load backbone .*config-only"):
        load_backbone(str(no_weights))
    with pytest.raises(BackboneLoadError, match=r"backbone path '\./no-such-model-folder' does not exist"):
        load_backbone("./no-such-model-folder")
