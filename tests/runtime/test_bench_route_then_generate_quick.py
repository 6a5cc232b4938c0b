"""benchmarks/bench_route_then_generate.py --quick: route then generate with the real router and backbone, ONNX
threads spinning and not; both ways give the same routing decisions, and every figure is measured."""
from __future__ import annotations

import pytest

from tests.benchmark_runs import run_quick


def test_bench_route_then_generate_quick(tmp_path) -> None:
    data, stdout = run_quick("bench_route_then_generate.py", tmp_path / "rtg.json")
    assert data["quick"] is True and data["queries"] == 20
    assert data["same_decisions"] is True
    med = data["median_ms"]
    for mode in ("spin", "no_spin"):
        assert all(med[mode][k] > 0 for k in ("route", "generate", "route_alone")), med[mode]
    assert data["generate_after_route_spin_vs_no_spin"] == pytest.approx(med["spin"]["generate"] / med["no_spin"]["generate"])
    assert "same routing decisions" in stdout
