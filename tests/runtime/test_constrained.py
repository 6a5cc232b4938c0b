"""Grammar-constrained decoding in the runtime: per-row schemas (or none) inside ONE batched generate on
the real backbone with real LoRA adapters; the config field; the server payload; the missing extra."""
from __future__ import annotations

import json
import sys

import pytest

from ariadne_integrations.errors import InvalidInputError, MissingDependencyError
from ariadne_integrations.runtime.generation import GenerationConfig
from ariadne_integrations.runtime.openai_backend import OpenAICompatibleBackend

LABEL = {"type": "object", "properties": {"label": {"enum": ["yes", "no"]}}, "required": ["label"]}
NOTE = {"type": "object", "required": ["note", "n"],
        "properties": {"note": {"type": "string", "maxLength": 12}, "n": {"type": "integer", "minimum": 0, "maximum": 99}}}


def test_config_json_schema_is_kept_as_compact_json_text():
    cfg = GenerationConfig(json_schema=LABEL)  # type: ignore[arg-type]  # a dict is accepted and converted
    assert json.loads(cfg.json_schema or "") == LABEL and " " not in (cfg.json_schema or "")
    assert hash(cfg) == hash(GenerationConfig(json_schema=json.dumps(LABEL)))  # hashable: batches group by config
    assert GenerationConfig().override(json_schema=NOTE).json_schema == GenerationConfig(json_schema=json.dumps(NOTE)).json_schema
    for bad in ("{not json", "[1, 2]", 5):
        with pytest.raises(InvalidInputError, match="json_schema"):
            GenerationConfig(json_schema=bad)  # type: ignore[arg-type]


def test_server_backend_sends_response_format_and_no_stop():
    backend = OpenAICompatibleBackend("http://127.0.0.1:9/v1", adapters=["sql"])
    config = GenerationConfig(json_schema=json.dumps({**LABEL, "title": "Yes / no"}), stop=("}",))
    path, payload = backend._payload([{"role": "user", "content": "hi"}], "sql", config)
    assert path == "/chat/completions" and "stop" not in payload
    assert payload["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "Yes_no", "schema": {**LABEL, "title": "Yes / no"}, "strict": True}}
    assert "response_format" not in backend._payload("hi", "sql", GenerationConfig())[1]


def test_missing_xgrammar_names_the_extra(monkeypatch):
    from ariadne_integrations.runtime.constrained import require_xgrammar

    monkeypatch.setitem(sys.modules, "xgrammar", None)
    with pytest.raises(MissingDependencyError, match=r"ariadne-integrations\[structured\]"):
        require_xgrammar()


# --------------------------------------------------------------------------- real backbone
def _needs_xgrammar():
    pytest.importorskip("xgrammar", reason="structured output needs the [structured] extra")


@pytest.mark.slow
def test_rows_with_different_schemas_or_none_share_one_generate(runtime, monkeypatch):
    _needs_xgrammar()
    calls = []
    orig = type(runtime)._call_generate

    def counting(self, *a, **kw):
        calls.append(1)
        return orig(self, *a, **kw)

    monkeypatch.setattr(type(runtime), "_call_generate", counting)
    prompts = ["Is the sky blue? Answer yes or no.", "Count to ten: one two", "Write a short note.", "Is water wet?"]
    res = runtime.generate(prompts, ["a", "b", None, "c"], GenerationConfig(max_new_tokens=24, stop=(" four",)),
                           json_schemas=[json.dumps(LABEL), None, json.dumps(NOTE), json.dumps(LABEL)])
    assert len(calls) == 1, "all rows, constrained or not, decode in one generate"
    assert json.loads(res[0].text)["label"] in ("yes", "no") and json.loads(res[3].text)["label"] in ("yes", "no")
    note = json.loads(res[2].text)  # strict JSON: no raw control characters, no special tokens
    assert set(note) == {"note", "n"} and len(note["note"]) <= 12 and 0 <= note["n"] <= 99
    assert all(r.finish_reason == "stop" for r in (res[0], res[2], res[3]))
    assert " four" not in res[1].text  # the free row is still cut at its stop string


@pytest.mark.slow
def test_json_cut_by_the_token_limit_reports_length(runtime):
    _needs_xgrammar()
    (r,) = runtime.generate(["Write a short note."], ["a"], GenerationConfig(max_new_tokens=4, json_schema=json.dumps(NOTE)))
    assert r.finish_reason == "length" and r.completion_tokens == 4
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)
    # a JSON that closes exactly at the limit (no room left for the end-of-sequence token) is complete
    (full,) = runtime.generate(["Write a short note."], ["a"], GenerationConfig(max_new_tokens=40, json_schema=json.dumps(NOTE)))
    (exact,) = runtime.generate(["Write a short note."], ["a"],
                                GenerationConfig(max_new_tokens=full.completion_tokens, json_schema=json.dumps(NOTE)))
    assert full.finish_reason == exact.finish_reason == "stop" and exact.text == full.text
    json.loads(exact.text)


@pytest.mark.slow
def test_stream_is_constrained_too(runtime):
    _needs_xgrammar()
    cfg = GenerationConfig(max_new_tokens=24, json_schema=json.dumps(LABEL), stop=("yes",))
    chunks = list(runtime.stream("Is the sky blue? Answer yes or no.", "b", cfg))
    text = "".join(c.text for c in chunks)
    assert chunks[-1].final and chunks[-1].finish_reason == "stop"
    assert json.loads(text)["label"] in ("yes", "no")  # never cut at the stop string "yes"


@pytest.mark.slow
def test_masks_never_allow_special_or_control_tokens(backbone):
    _needs_xgrammar()
    import torch

    from ariadne_integrations.runtime.constrained import compile_schemas

    tok = backbone.tokenizer
    proc = compile_schemas(backbone.model, tok, [json.dumps(NOTE)])
    vocab = backbone.model.config.vocab_size
    prompt = torch.tensor([[tok.eos_token_id]])
    proc(prompt, torch.zeros(1, vocab))
    inside = tok('{"note": "ab', add_special_tokens=False)["input_ids"]  # now inside a maxLength string
    scores = proc(torch.cat([prompt, torch.tensor([inside])], dim=1), torch.zeros(1, vocab))
    allowed = torch.isfinite(scores[0])
    assert not allowed[[i for i in tok.all_special_ids if i != tok.eos_token_id]].any(), "special tokens inside JSON"
    byte_tokens = [i for i in range(len(tok)) if any(b < 0x20 for b in tok.decode([i]).encode("utf-8", "ignore"))]
    assert not allowed[byte_tokens].any(), "tokens with raw control characters inside a JSON string"
    assert allowed[tok.convert_tokens_to_ids("c")] and allowed[tok.convert_tokens_to_ids('"')]
