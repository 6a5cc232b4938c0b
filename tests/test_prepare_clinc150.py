"""scripts/prepare_clinc150.py: the official data_full.json -> train / dev / train_oos JSONL (domains from intents)."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "prepare_clinc150.py"


def _module():
    spec = importlib.util.spec_from_file_location("prepare_clinc150", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


SYNTHETIC = {
    "train": [["what is my balance", "balance"], ["say hello in french", "translate"], ["set a timer", "timer"]],
    "val": [["how much money do i have", "balance"], ["café in spanish", "translate"]],
    "test": [["never written", "balance"]],
    "oos_train": [["who won the game", "oos"]],
    "oos_val": [["what is a black hole", "oos"], ["buy a boat", "oos"]],
    "oos_test": [["never written either", "oos"]],
}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_converts_a_synthetic_data_full(tmp_path):
    src = tmp_path / "data_full.json"
    src.write_text(json.dumps(SYNTHETIC), encoding="utf-8")
    out = tmp_path / "clinc150"
    run = subprocess.run([sys.executable, str(SCRIPT), str(src), "--out", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in out.iterdir()) == ["dev.jsonl", "train.jsonl", "train_oos.jsonl"]  # no test split
    assert _rows(out / "train.jsonl") == [
        {"task": "banking", "intent": "balance", "input": "what is my balance"},
        {"task": "travel", "intent": "translate", "input": "say hello in french"},
        {"task": "utility", "intent": "timer", "input": "set a timer"},
    ]
    dev = _rows(out / "dev.jsonl")
    assert [(r["task"], r["intent"]) for r in dev] == [("banking", "balance"), ("travel", "translate"), ("oos", "oos"), ("oos", "oos")]
    assert dev[1]["input"] == "café in spanish" and "café" in (out / "dev.jsonl").read_text(encoding="utf-8")
    assert _rows(out / "train_oos.jsonl") == [{"task": "oos", "intent": "oos", "input": "who won the game"}]
    assert "dev.jsonl: 4 rows (2 out of scope)" in run.stdout


def test_mapping_has_150_intents_in_10_domains_of_15():
    mod = _module()
    assert len(mod.INTENT_DOMAIN) == 150 and len(mod.DOMAINS) == 10
    assert all(len(v) == 15 for v in mod.DOMAINS.values())


@pytest.mark.parametrize("data,match", [
    ({"train": [], "val": []}, "lacks the split"),
    ({**SYNTHETIC, "train": [["hi", "not_an_intent"]]}, "not one of CLINC150's 150 intents"),
    ({**SYNTHETIC, "val": [["only text"]]}, "not an \\[utterance, intent\\] pair"),
    ([1, 2], "JSON object"),
])
def test_rejects_files_that_are_not_the_official_layout(data, match):
    mod = _module()
    with pytest.raises(mod.ClincFormatError, match=match):
        mod.convert(data)


def test_bad_file_exits_2_without_writing(tmp_path):
    src = tmp_path / "data_full.json"
    src.write_text("{not json", encoding="utf-8")
    run = subprocess.run([sys.executable, str(SCRIPT), str(src), "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert run.returncode == 2 and "data_full.json" in run.stderr and not (tmp_path / "o").exists()


def test_reproduces_the_shared_benchmark_files(tmp_path, benchmarks_dir):
    """Rebuilt from the shared JSONL (pairs in file order), the converter writes those files byte for byte."""
    mod = _module()
    folder = benchmarks_dir / "clinc150"
    pairs = {name: [[r["input"], r["intent"]] for r in _rows(folder / name)] for name in mod.LAYOUT}
    dev = pairs["dev.jsonl"]
    data = {"train": pairs["train.jsonl"], "val": [p for p in dev if p[1] != "oos"],
            "oos_val": [p for p in dev if p[1] == "oos"], "oos_train": pairs["train_oos.jsonl"]}
    assert dev == data["val"] + data["oos_val"]  # the shared dev file is val then oos_val
    mod.write(tmp_path, mod.convert(data))
    for name in mod.LAYOUT:
        assert (tmp_path / name).read_bytes() == (folder / name).read_bytes(), name
