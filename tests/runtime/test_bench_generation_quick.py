"""benchmarks/bench_generation.py --quick measures the decode loop against its floor and generate, and writes its JSON."""
from __future__ import annotations

import pytest

from tests.benchmark_runs import run_quick


def test_bench_generation_quick(tmp_path) -> None:
    out = tmp_path / "generation.json"
    data, stdout = run_quick("bench_generation.py", out)
    assert data["quick"] is True and data["new_tokens"] == 4 and data["prompts"] == 4
    assert {"model", "flags", "cores", "torch_threads"} <= set(data["cpu"])
    m, step, floor = data["median_seconds"], data["step_seconds"], data["floor_seconds"]
    for key in ("mixed_batch", "adapters_disabled", "mixed_batch_generate", "mixed_batch_peft_loop", "one_by_one"):
        assert m[key] > 0, key
    # a step is the difference of two timed runs (N tokens vs 1): positive unless the machine was very noisy
    assert all(v > 0 for v in floor.values())
    assert data["step_vs_memory_floor"] == pytest.approx(step["mixed_batch"] / floor["memory"])
    assert data["speedup_vs_generate"] == pytest.approx(m["mixed_batch_generate"] / m["mixed_batch"])
    assert set(data["batch_sizes"]) == {"1", "4"}
    for v in data["batch_sizes"].values():
        assert v["mixed_tokens_per_s"] > 0
        assert v["mixed_vs_off"] == pytest.approx(v["mixed_tokens_per_s"] / v["off_tokens_per_s"])
    assert data["single_stream_tokens_per_s"]["fast_base"] > 0 and data["time_to_first_token_ms"]["fast"] > 0
    assert data["engine"] is None and data["bf16"] is None  # --quick runs neither
    assert "step / floor" in stdout and "single stream" in stdout
