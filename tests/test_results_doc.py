"""docs/BENCHMARKS.md and README's results block are what scripts/render_results.py makes of the results JSON,
so no figure in them can drift from the run that produced it."""
from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _renderer():
    spec = importlib.util.spec_from_file_location("render_results", ROOT / "scripts" / "render_results.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_rendered_docs_match_the_results_json():
    r = _renderer()
    assert (ROOT / "docs" / "BENCHMARKS.md").read_text(encoding="utf-8") == r.render_doc(), \
        "docs/BENCHMARKS.md is stale: run python scripts/render_results.py"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert r.splice_readme(readme, r.render_summary()) == readme, "README's results block is stale: run python scripts/render_results.py"


def test_a_changed_figure_changes_the_rendering(monkeypatch):
    r = _renderer()
    real = r.load

    def fake(name):
        d = real(name)
        if name == "generation" and d is not None:
            d = {**d, "speedup_mixed_vs_one_by_one": 1.23}
        return d

    monkeypatch.setattr(r, "load", fake)
    assert "1.23×" in r.render_doc() and "1.23×" in r.render_summary()
