"""train_lora end to end on a tiny synthetic task with the real backbone, plus its bad-input paths."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ariadne_integrations.cli import runtime_commands  # noqa: F401  (registers `ariadne train`)
from ariadne_integrations.constants import ADAPTER_INPUTS_FILE, ADAPTER_TASK_FILE
from ariadne_integrations.errors import DataFormatError
from ariadne_integrations.runtime.adapters import AdapterRuntime
from ariadne_integrations.runtime.generation import GenerationConfig
from ariadne_integrations.runtime.training import exact_match, train_lora

WORDS = ["apple", "river", "stone", "cloud", "tiger", "lemon", "piano", "grass", "candle", "rocket", "mirror",
         "button", "forest", "pepper", "window", "silver"]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, backbone):
    """One short real training run (a constant answer is learnable in a few steps)."""
    import torch

    d = tmp_path_factory.mktemp("train")
    data = _write(d / "task.jsonl", [{"question": f"Reply to: {w}", "answer": "PONG"} for w in WORDS])
    def base_weights():  # the runtime may have injected LoRA layers: compare the base weights only
        return {k.replace(".base_layer", ""): v for k, v in backbone.model.state_dict().items()
                if "layers.0." in k and "lora_" not in k}

    before = {k: v.detach().clone() for k, v in base_weights().items()}
    report = train_lora(data, d / "adapter", task_name="pong", input_field="question", target_field="answer",
                        eval_fraction=0.25, r=8, alpha=16, lr=3e-3, batch_size=2, max_steps=8, max_length=40,
                        max_new_tokens=4, seed=0, show_progress=False)
    after = base_weights()
    unchanged = before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    return report, d / "adapter", unchanged


def test_train_lora_writes_a_usable_adapter(trained, backbone):
    report, out, _ = trained
    assert report.task == "pong" and report.n_train == 12 and report.n_eval == 4 and report.steps == 8
    assert len(report.losses) == 8 and report.losses[-1] < report.losses[0]
    # The base model never answers a bare "PONG" (0 exact match); a few steps teach it to on most of the
    # held-out quarter. `>=` would pass for a trainer that learns nothing (0 == 0).
    assert report.score_before == 0.0, report.score_before
    assert report.score_after is not None and report.score_after >= 0.75, report.score_after
    assert report.score_after - report.score_before >= 0.75
    for f in ("adapter_config.json", "adapter_model.safetensors", ADAPTER_TASK_FILE, ADAPTER_INPUTS_FILE):
        assert (out / f).is_file(), f
    meta = json.loads((out / ADAPTER_TASK_FILE).read_text())
    assert meta["task"] == "pong" and meta["n_train"] == 12 and meta["n_eval"] == 4 and meta["metric"] == "exact_match"
    assert meta["score_after"] == report.score_after and meta["hyperparameters"]["r"] == 8
    inputs = [json.loads(line)["input"] for line in (out / ADAPTER_INPUTS_FILE).read_text().splitlines()]
    assert len(inputs) == 12 and all(x.startswith("Reply to: ") for x in inputs)
    assert not [p for p in out.parent.iterdir() if ".tmp-" in p.name]  # no temp folder left behind
    rt = AdapterRuntime(backbone, {"pong": out})
    held_out = ["Reply to: banana", "Reply to: mountain"]  # words not in the training data
    trained_, base = (rt.generate(held_out, [a] * 2, GenerationConfig(max_new_tokens=4)) for a in ("pong", None))
    assert [r.adapter for r in trained_] == ["pong", "pong"]
    assert [r.text.strip() for r in trained_] == ["PONG", "PONG"], [r.text for r in trained_]
    assert exact_match([r.text for r in base], ["PONG"] * 2) == 0.0, [r.text for r in base]  # the adapter made the difference


def test_training_leaves_the_cached_backbone_untouched(trained):
    assert trained[2], "train_lora modified the process-wide cached backbone"


def test_missing_field_names_the_line_and_keeps_old_adapter(tmp_path, trained):
    _, out, _ = trained
    before = (out / "adapter_model.safetensors").read_bytes()
    bad = _write(tmp_path / "bad.jsonl", [{"input": "a", "target": "b"}, {"input": "c"}])
    with pytest.raises(DataFormatError, match=r"bad.jsonl:2: missing field 'target'"):
        train_lora(bad, out, show_progress=False)
    assert (out / "adapter_model.safetensors").read_bytes() == before


def test_cli_train_errors_exit_2(tmp_path):
    from ariadne_integrations.cli import app

    bad = _write(tmp_path / "bad.jsonl", [{"text": "a"}])
    res = CliRunner().invoke(app, ["train", "--data", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "missing field 'input'" in res.output
    assert not (tmp_path / "o").exists()


def test_cli_train_one_step(tmp_path):
    from ariadne_integrations.cli import app

    data = _write(tmp_path / "t.jsonl", [{"input": f"Reply to: {w}", "target": "PONG"} for w in WORDS[:6]])
    res = CliRunner().invoke(app, ["train", "--data", str(data), "--out", str(tmp_path / "o"), "--max-steps", "1",
                                   "--batch-size", "2", "--no-score", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout.strip().splitlines()[-1])  # progress bar goes to stderr
    assert report["steps"] == 1 and report["n_train"] == 6 and report["score_before"] is None
    assert (tmp_path / "o" / "adapter_model.safetensors").is_file()


def test_exact_match_normalises():
    assert exact_match([" Positive. ", "neg"], ["positive", "positive"]) == 0.5
