"""Every tutorial notebook runs top to bottom (each ends with assertion cells), with the real models."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REQUIRE_BENCHMARKS_VAR

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))


def test_notebooks_exist():
    assert len(NOTEBOOKS) >= 4, NOTEBOOKS


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path: Path, request: pytest.FixtureRequest):
    nb = nbformat.read(path, as_version=4)
    if any("shared/benchmarks" in c.source for c in nb.cells if c.cell_type == "code"):
        request.getfixturevalue("benchmarks_dir")  # skip without the data; an error under ARIADNE_REQUIRE_BENCHMARKS
    assert any("assert" in c.source for c in nb.cells if c.cell_type == "code"), "no assertion cell"
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(NB_DIR)}}).execute()
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "all checks passed" in outputs


def _data_cell() -> str:
    nb = nbformat.read(NB_DIR / "04_evaluating_routing.ipynb", as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    checks = code[-1]
    assert "if after.abstain" not in checks and 'after.abstain["oos_abstained"]' in checks, checks
    return next(src for src in code if "shared/benchmarks" in src)


def test_evaluation_notebook_fails_without_benchmark_data(tmp_path, monkeypatch):
    """Notebook 04 raises when neither $ARIADNE_BENCHMARKS nor ../../shared/benchmarks holds the data, rather
    than falling back to the demo data (which has no out-of-scope rows, so its abstention checks would
    silently not run)."""
    data_cell = _data_cell()
    workdir = tmp_path / "a" / "b"  # ../../shared/benchmarks does not exist from here
    workdir.mkdir(parents=True)
    monkeypatch.chdir(workdir)
    monkeypatch.delenv(REQUIRE_BENCHMARKS_VAR, raising=False)
    monkeypatch.delenv("ARIADNE_BENCHMARKS", raising=False)
    with pytest.raises(FileNotFoundError, match=r"CLINC150 benchmark data missing .*train\.jsonl, dev\.jsonl, train_oos\.jsonl"):
        exec(compile(data_cell, "notebook 04, data cell", "exec"), {})


def test_evaluation_notebook_reads_the_folder_named_by_ariadne_benchmarks(tmp_path, monkeypatch):
    """$ARIADNE_BENCHMARKS wins over ../../shared/benchmarks: a folder there without the files is the error."""
    data_cell = _data_cell()
    given = tmp_path / "my_data"
    (given / "clinc150").mkdir(parents=True)
    (given / "clinc150" / "dev.jsonl").write_text("", encoding="utf-8")
    monkeypatch.setenv("ARIADNE_BENCHMARKS", str(given))
    with pytest.raises(FileNotFoundError, match=r"missing in .*my_data.clinc150: train\.jsonl, train_oos\.jsonl; set \$ARIADNE_BENCHMARKS"):
        exec(compile(data_cell, "notebook 04, data cell", "exec"), {})
