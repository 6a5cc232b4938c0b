"""The main demo end to end, cold and warm: the time a newcomer waits for `make demo`.

    python benchmarks/bench_demo.py [--out benchmarks/results/demo.json]

Cold: a fresh process with an empty cache folder (``ARIADNE_CACHE_DIR``), so the one-time GGUF ->
safetensors conversion of the embedded backbone and the embedder's ONNX export are included. Warm: the
same command again on the now-filled cache. Each is a separate ``python -m ariadne_integrations.demo --json``
process; the rows (sub-query, adapter, answer) of both runs are recorded and must agree.
Run with the package installed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "results" / "demo.json"


def run_demo(cache: Path) -> tuple[float, list[dict]]:
    env = {**os.environ, "ARIADNE_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ariadne_integrations.demo", "--json"], env=env,
                          capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"the demo failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds, json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ariadne-cold-") as tmp:
        cold_s, cold_rows = run_demo(Path(tmp))
        warm_s, warm_rows = run_demo(Path(tmp))
    res = {
        "command": "python -m ariadne_integrations.demo --json",
        "cold_seconds": round(cold_s, 1),
        "warm_seconds": round(warm_s, 1),
        "sub_queries": len(cold_rows),
        "adapters": [r["adapter"] for r in cold_rows],
        "same_rows_cold_and_warm": cold_rows == warm_rows,
        "rows": cold_rows,
        "machine": {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"main demo: cold {cold_s:.1f} s (conversion + export included), warm {warm_s:.1f} s, "
          f"{len(cold_rows)} sub-queries routed to {res['adapters']}; cold and warm rows identical: "
          f"{res['same_rows_cold_and_warm']}")


if __name__ == "__main__":
    main()
