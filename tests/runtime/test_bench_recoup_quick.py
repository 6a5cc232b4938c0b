"""benchmarks/bench_recoup.py --quick trains a tiny pool, routes and scores it, and writes the recoup JSON."""
from __future__ import annotations

from tests.benchmark_runs import run_quick


def test_bench_recoup_quick(tmp_path, benchmarks_dir) -> None:
    data_dir = benchmarks_dir / "clinc150"
    out = tmp_path / "recoup.json"
    data, _ = run_quick("bench_recoup.py", out, "--data", str(data_dir), "--cache-dir", str(tmp_path / "cache"))
    assert {"n", "base", "oracle", "routed", "routed_paper", "random", "recoup", "recoup_paper", "per_task", "routing",
            "threshold_on", "training", "load_average", "command"} <= set(data)
    assert data["quick"] is True and len(data["tasks"]) == 3 and data["n"] == 24 and data["subsampled"] is True
    for key in ("base", "oracle", "routed", "routed_paper", "random"):
        assert 0.0 <= data[key] <= 1.0, key
    assert data["oracle"] >= data["base"]  # the bare backbone does not know the intent names
    if data["oracle"] > 0:  # a few quick steps may teach the adapters nothing yet
        assert data["recoup"] == round(data["routed"] / data["oracle"], 4)
        assert data["recoup_paper"] == round(data["routed_paper"] / data["oracle"], 4)
    else:
        assert data["recoup"] is None and data["recoup_paper"] is None and data["target_met"] is False
    for block in data["routing"].values():
        assert 0.0 <= block["accuracy"] <= 1.0
        assert block["misrouted"] == round((1 - block["accuracy"]) * data["n"])
        assert 0 <= block["misrouted_oracle_right"] <= block["misrouted"]
    assert set(data["per_task"]) == set(data["tasks"])
    assert sum(t["n"] for t in data["per_task"].values()) == data["n"]
    th = data["threshold_on"]
    assert th["n_oos_dev"] > 0 and 0.0 <= th["oos_to_base"] <= 1.0 and 0.0 <= th["in_scope_score"] <= 1.0
    assert 0 <= th["in_scope_abstained"] <= data["n"]
    so = data["second_opinion"]
    assert 0.0 <= so["true_adapter_in_top2"] <= 1.0 and 0.0 <= so["runner_up_answer_score"] <= 1.0
    assert max(data["routed"], so["runner_up_answer_score"]) <= so["best_of_top2"] <= data["routed"] + so["runner_up_answer_score"]
    for cut, v in so["by_adapter_logprob"].items():
        assert v["score"] <= so["best_of_top2"] and v["switched"] <= v["rows_verified"] <= data["n"], cut
        assert v["switched_to_true_adapter"] + v["switched_away_from_true_adapter"] <= v["switched"], cut
    assert so["by_adapter_logprob"]["every row"]["rows_verified"] == data["n"]
    tr = data["training"]
    assert set(tr["steps"]) == set(data["tasks"]) and tr["cached"] is False and tr["seconds_total"] > 0
