"""benchmarks/bench_abstention.py --quick runs on a CLINC150 subsample and writes a sane results JSON."""
from __future__ import annotations

from tests.benchmark_runs import run_quick


def test_bench_abstention_quick(tmp_path, benchmarks_dir) -> None:
    out, png = tmp_path / "abstention.json", tmp_path / "curves.png"
    data, _ = run_quick("bench_abstention.py", out, "--data", str(benchmarks_dir), "--plot", str(png))
    assert {"config", "dev_selection_accuracy", "summary", "variants", "machine"} <= set(data)
    assert data["config"]["quick"] is True and data["config"]["adapters"] == 10
    assert 0.5 < data["dev_selection_accuracy"] <= 1.0
    names = set(data["variants"])
    assert {"global score (today)", "per-adapter score (z)", "margin", "kNN top-5 mean"} <= names
    assert [s["variant"] for s in data["summary"]] == list(data["variants"])
    for label, v in data["variants"].items():
        for key in ("target_oos_rejection_0.9", "balanced"):
            p = v["points"][key]
            assert 0.0 <= p["dev"]["oos_rejection"] <= 1.0 and 0.0 <= p["dev"]["in_scope_accuracy"] <= 1.0, label
            # abstaining never raises in-scope accuracy above the routing accuracy: cost >= 0
            assert p["dev"]["cost_points"] >= -1e-9, label
            if key == "target_oos_rejection_0.9":
                assert p["calibration"]["oos_rejection"] >= 0.9, label
        curve = v["dev_curve"]
        assert curve[0][0] == 0.0 and curve[-1][0] == 1.0
        assert all(a[1] >= b[1] - 1e-9 for a, b in zip(curve, curve[1:])), label  # accuracy falls as rejection rises
    th = data["variants"]["per-adapter score (z)"]["points"]["target_oos_rejection_0.9"]["adapter_thresholds"]
    assert th is not None and len(th) == 10
    assert png.is_file() and png.stat().st_size > 10_000
