"""The benchmark-data fixture: skips without ../shared/benchmarks, fails when CI requires the data."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, REQUIRE_BENCHMARKS_VAR, SHARED_BENCHMARKS, require_benchmarks


def _outcome(folder: Path) -> tuple[str, str]:
    """("returned" | "skipped" | "failed", message): caught here, so a skip can never pass for a failure."""
    try:
        return "returned", str(require_benchmarks(folder))
    except pytest.skip.Exception as exc:
        return "skipped", str(exc)
    except pytest.fail.Exception as exc:
        return "failed", str(exc)


def test_missing_folder_skips_outside_ci(tmp_path, monkeypatch):
    monkeypatch.delenv(REQUIRE_BENCHMARKS_VAR, raising=False)
    kind, msg = _outcome(tmp_path / "nowhere")
    assert kind == "skipped" and "benchmark data not found" in msg, (kind, msg)


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_missing_folder_fails_when_required(tmp_path, monkeypatch, value):
    monkeypatch.setenv(REQUIRE_BENCHMARKS_VAR, value)
    kind, msg = _outcome(tmp_path / "nowhere")
    assert kind == "failed", (kind, msg)
    assert "benchmark data not found" in msg and f"{REQUIRE_BENCHMARKS_VAR} is set" in msg, msg


def test_incomplete_folder_names_the_missing_files(tmp_path, monkeypatch):
    (tmp_path / "bbh").mkdir()
    for f in ("train", "dev"):
        (tmp_path / "bbh" / f"{f}.jsonl").write_text("")
    monkeypatch.setenv(REQUIRE_BENCHMARKS_VAR, "1")
    kind, msg = _outcome(tmp_path)
    assert kind == "failed" and "lacks clinc150/train, clinc150/dev, clinc150/train_oos" in msg, (kind, msg)


def test_ci_script_requires_the_data():
    assert f"export {REQUIRE_BENCHMARKS_VAR}=1" in (REPO / ".ci" / "run").read_text()


def test_present_folder_is_returned(benchmarks_dir, monkeypatch):
    monkeypatch.setenv(REQUIRE_BENCHMARKS_VAR, "1")
    assert benchmarks_dir == SHARED_BENCHMARKS
    assert _outcome(benchmarks_dir) == ("returned", str(benchmarks_dir))
