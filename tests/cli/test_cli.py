"""The `ariadne index|route|eval` commands, in process (CliRunner) with the real default embedder."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ariadne_integrations.cli import app, index_commands, route_commands  # noqa: F401  (importing registers the commands)
from tests.routing.toy_data import TOY

runner = CliRunner()


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    train = _jsonl(d / "train.jsonl", [{"input": t, "task": k} for k in ("sentiment", "sql") for t in TOY[k]])
    test = _jsonl(d / "test.jsonl", [
        {"input": "the film was a delight from start to finish", "task": "sentiment"},
        {"input": "awful acting and a silly plot", "task": "sentiment"},
        {"input": "select name from employees where salary > 1000", "task": "sql"},
        {"input": "what is the capital of Peru", "task": "oos"},
    ])
    adapter = d / "weather_adapter"
    adapter.mkdir()
    (adapter / "ariadne_task.json").write_text(json.dumps({"task": "weather", "base_model": "x"}))
    _jsonl(adapter / "ariadne_inputs.jsonl", [{"input": t} for t in TOY["weather"]])
    return {"dir": d, "train": train, "test": test, "adapter": adapter}


def _ok(args: list[str]):
    res = runner.invoke(app, args)
    assert res.exit_code == 0, (res.stdout, res.stderr, res.exception)
    return res


def test_build_info_route_eval(data) -> None:
    idx = data["dir"] / "idx"
    out = _ok(["index", "build", "--data", str(data["train"]), "--adapter", str(data["adapter"]), "--out", str(idx), "--no-progress"])
    assert "3 adapters" in out.stdout
    info = _ok(["index", "info", str(idx)]).stdout
    assert "weather: 6 examples" in info and "all-MiniLM-L6-v2" in info
    meta = json.loads(_ok(["index", "info", str(idx), "--json"]).stdout)
    paths = {a["name"]: a["adapter_path"] for a in meta["adapters"]}
    assert (idx / paths["weather"]).resolve() == data["adapter"].resolve() and paths["sql"] is None

    routed = _ok(["route", "--index", str(idx), "--json", "will it hail in Madrid", "drop the users table"]).stdout
    lines = [json.loads(line) for line in routed.splitlines()]
    assert [x["adapter"] for x in lines] == ["weather", "sql"] and lines[0]["query"] == "will it hail in Madrid"
    plain = _ok(["route", "--index", str(idx), "drop the users table"]).stdout
    assert plain.startswith("sql\t")

    rep = json.loads(_ok(["eval", "--index", str(idx), "--data", str(data["test"]), "--json"]).stdout)
    assert rep["selection_accuracy"] == 1.0 and rep["n"] == 3
    assert rep["per_task"]["sentiment"] == {"accuracy": 1.0, "n": 2}
    assert rep["abstain"]["n"] == 1 and rep["abstain"]["oos_abstained"] == 0.0  # no threshold set
    strict = json.loads(_ok(["eval", "--index", str(idx), "--data", str(data["test"]), "--json", "--threshold", "0.99"]).stdout)
    assert strict["abstain"]["oos_abstained"] == 1.0 and strict["abstain"]["in_scope_accuracy"] == 0.0

    png = data["dir"] / "conf.png"
    _ok(["eval", "--index", str(idx), "--data", str(data["test"]), "--plot", str(png)])
    assert png.stat().st_size > 1000


def test_add_remove_and_calibrate(data) -> None:
    idx = data["dir"] / "idx2"
    _ok(["index", "build", "--data", str(data["train"]), "--out", str(idx), "--no-progress", "--strategy", "paper"])
    _ok(["index", "add", str(idx), "--adapter", f"forecast={data['adapter']}"])
    res = runner.invoke(app, ["index", "add", str(idx), "--adapter", f"forecast={data['adapter']}"])
    assert res.exit_code == 2 and "--replace" in res.stderr
    meta = json.loads(_ok(["index", "info", str(idx), "--json"]).stdout)
    assert [a["name"] for a in meta["adapters"]] == ["sentiment", "sql", "forecast"]
    assert meta["strategy"]["name"] == "paper"
    _ok(["index", "remove", str(idx), "sentiment"])
    res = runner.invoke(app, ["index", "remove", str(idx), "sentiment"])
    assert res.exit_code == 2 and "sentiment" in res.stderr
    cal = json.loads(_ok(["index", "calibrate", str(idx), "--data", str(data["test"]), "--json"]).stdout)
    meta = json.loads(_ok(["index", "info", str(idx), "--json"]).stdout)
    assert meta["thresholds"]["threshold"] == cal["threshold"] and "per_adapter" not in meta["thresholds"]
    per = json.loads(_ok(["index", "calibrate", str(idx), "--data", str(data["test"]), "--method", "per_adapter", "--json"]).stdout)
    meta = json.loads(_ok(["index", "info", str(idx), "--json"]).stdout)
    assert per["method"] == "per_adapter" and meta["thresholds"]["per_adapter"] == per["adapter_thresholds"]
    res = runner.invoke(app, ["index", "calibrate", str(idx), "--data", str(data["test"]), "--method", "knn"])
    assert res.exit_code == 2 and "method" in res.stderr


def test_errors_are_clean(data, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "a", "task": "x"}\n{"input": "b"}\n')
    res = runner.invoke(app, ["index", "build", "--data", str(bad), "--out", str(tmp_path / "i")])
    assert res.exit_code == 2 and f"{bad}:2:" in res.stderr and "missing field 'task'" in res.stderr
    assert not (tmp_path / "i").exists()
    res = runner.invoke(app, ["route", "--index", str(tmp_path / "missing"), "hello"])
    assert res.exit_code == 2 and "does not exist" in res.stderr
    res = runner.invoke(app, ["index", "build", "--out", str(tmp_path / "j")])
    assert res.exit_code == 2 and "nothing to index" in res.stderr
    res = runner.invoke(app, ["index", "build", "--data", str(data["train"]), "--out", str(tmp_path / "k"), "--strategy", "bogus"])
    assert res.exit_code == 2 and "unknown centroid strategy" in res.stderr


def test_console_error_has_no_traceback(tmp_path: Path) -> None:
    # the console script's entry point (`ariadne = ariadne_integrations.cli:main`), in a fresh process
    entry = "from ariadne_integrations.cli import main; main()"
    out = subprocess.run([sys.executable, "-c", entry, "eval", "--index", str(tmp_path / "none"),
                          "--data", str(tmp_path / "d.jsonl"), "--json"], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.startswith("error:") and "Traceback" not in out.stderr


GENERAL = ["What is the capital of France?", "Who wrote Pride and Prejudice?", "How tall is Mount Everest?",
           "Tell me a joke about cats.", "What is 17 times 23?", "How are you today?", "Who painted the Mona Lisa?",
           "What year did the Second World War end?", "Why is the sky blue?", "Recommend a good book to read."]
GENERAL_HELD_OUT = ["What is the largest ocean on Earth?", "How many legs does a spider have?",
                    "Who discovered penicillin?", "What is the square root of 144?", "Good morning, how was your weekend?",
                    "What language is spoken in Brazil?"]


def test_index_build_calibrates_the_threshold_in_one_step(tmp_path):
    from ariadne_integrations.demo import demo_data_path
    from ariadne_integrations.routing.data import read_jsonl
    from ariadne_integrations.routing.router import AriadneRouter

    oos = _jsonl(tmp_path / "oos.jsonl", [{"input": q} for q in GENERAL])
    out = tmp_path / "idx"
    res = runner.invoke(app, ["index", "build", "--data", str(demo_data_path()), "--calibrate-oos", str(oos),
                              "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "calibrated threshold=" in res.output and "out-of-scope rejection" in res.output
    router = AriadneRouter.load(out)
    assert router.threshold is not None and 0 < router.threshold < 1
    held = read_jsonl(demo_data_path(split="test"))
    decisions = router.route_batch([t for t, _ in held])
    assert sum(d.adapter == lab for d, (_, lab) in zip(decisions, held)) / len(held) >= 0.95
    assert sum(d.abstained for d in router.route_batch(GENERAL_HELD_OUT)) >= len(GENERAL_HELD_OUT) - 1
    both = runner.invoke(app, ["index", "build", "--data", str(demo_data_path()), "--calibrate-oos", str(oos),
                               "--threshold", "0.3", "--out", str(tmp_path / "idx2")])
    assert both.exit_code == 2 and "not both" in both.output


def test_eval_reports_what_the_threshold_costs():
    from ariadne_integrations.demo import demo_data_path, demo_index_path

    res = runner.invoke(app, ["eval", "--index", str(demo_index_path()), "--data", str(demo_data_path(split="test"))])
    assert res.exit_code == 0, res.output
    line = next(ln for ln in res.output.splitlines() if ln.startswith("abstention"))
    assert "costs" in line and "points in scope" in line and "without it" in line
    no_threshold = runner.invoke(app, ["eval", "--index", str(demo_index_path()), "--data", str(demo_data_path(split="test")),
                                       "--threshold", "-1"])
    assert "abstention (threshold=-1.0" in no_threshold.output and "costs 0.00 points" in no_threshold.output
