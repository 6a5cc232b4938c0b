"""The benchmark-data fixture: skips without ../shared/benchmarks, fails when CI requires the data."""
from __future__ import annotations

import pytest

from tests.conftest import REPO, REQUIRE_BENCHMARKS_VAR, SHARED_BENCHMARKS, require_benchmarks


def test_missing_folder_skips_outside_ci(tmp_path, monkeypatch):
    monkeypatch.delenv(REQUIRE_BENCHMARKS_VAR, raising=False)
    with pytest.raises(pytest.skip.Exception, match="benchmark data not found"):
        require_benchmarks(tmp_path / "nowhere")


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_missing_folder_fails_when_required(tmp_path, monkeypatch, value):
    monkeypatch.setenv(REQUIRE_BENCHMARKS_VAR, value)
    with pytest.raises(pytest.fail.Exception, match=f"benchmark data not found .*{REQUIRE_BENCHMARKS_VAR} is set"):
        require_benchmarks(tmp_path / "nowhere")


def test_incomplete_folder_names_the_missing_files(tmp_path, monkeypatch):
    (tmp_path / "bbh").mkdir()
    for f in ("train", "dev"):
        (tmp_path / "bbh" / f"{f}.jsonl").write_text("")
    monkeypatch.setenv(REQUIRE_BENCHMARKS_VAR, "1")
    with pytest.raises(pytest.fail.Exception, match=r"lacks clinc150/train, clinc150/dev, clinc150/train_oos"):
        require_benchmarks(tmp_path)


def test_ci_script_requires_the_data():
    assert f"export {REQUIRE_BENCHMARKS_VAR}=1" in (REPO / ".ci" / "run").read_text()


def test_present_folder_is_returned(benchmarks_dir, monkeypatch):
    monkeypatch.setenv(REQUIRE_BENCHMARKS_VAR, "1")
    assert benchmarks_dir == SHARED_BENCHMARKS and require_benchmarks(benchmarks_dir) == benchmarks_dir
