"""Run a benchmark script's ``--quick`` mode in a fresh process and read the JSON it wrote.

Why: every benchmark has a quick run in the suite so it cannot rot; they all start the script the same way
(this checkout first on the path, no hub access) and fail with its output when it exits non-zero.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def run_quick(script: str, out: Path, *args: str, timeout: float = 300) -> tuple[dict[str, Any], str]:
    """``python benchmarks/<script> --quick *args --out out`` -> (the JSON written to ``out``, its stdout)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), "--quick", *args, "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(out.read_text(encoding="utf-8")), proc.stdout
