"""Abstention on the demo pool, through the wrappers' default path: general questions go to the bare
backbone, the demo tasks' held-out queries to their adapters.

    python benchmarks/bench_abstention_demo.py [--out benchmarks/results/abstention_demo.json]

The packaged demo index carries a threshold calibrated by ``scripts/build_demo_pool.py --index`` on
``data/oos_calibration.jsonl`` (general questions) and 10 % of each adapter's inputs; this script measures it
on sets the calibration never saw: ``data/oos_test.jsonl`` (60 general questions: trivia, chit-chat,
arithmetic, from other templates) and the held-out split ``data/all_test.jsonl`` (240 task queries).
Routing only: answers come from a recording fake backend, so the figure is what ``AriadneLLM`` decides.
Run with the package installed.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ariadne_integrations.demo import DEMO_TASKS, demo_data_path, demo_index_path, demo_root
from ariadne_integrations.jsonl import read_jsonl
from ariadne_integrations.langchain import AriadneLLM
from ariadne_integrations.testing import FakeBackend

OUT = Path(__file__).resolve().parent / "results" / "abstention_demo.json"


def measure() -> dict:
    backend = FakeBackend(DEMO_TASKS)
    llm = AriadneLLM.from_index(demo_index_path(), backend=backend, max_new_tokens=4)
    general = read_jsonl(demo_root() / "data" / "oos_test.jsonl", label_field=None)
    held = read_jsonl(demo_data_path(split="test"))
    t0 = time.perf_counter()
    g_infos = [g[0].generation_info for g in llm.generate(general).generations]
    h_infos = [g[0].generation_info for g in llm.generate([t for t, _ in held]).generations]
    seconds = time.perf_counter() - t0
    to_base = sum(i["adapter"] is None for i in g_infos) / len(general)
    routed = sum(i["adapter"] == lab for i, (_, lab) in zip(h_infos, held)) / len(held)
    abstained_in_scope = sum(i["abstained"] for i in h_infos)
    return {
        "threshold": llm.generator.router.threshold,  # type: ignore[union-attr]
        "general_questions": len(general),
        "general_answered_by_base": round(to_base, 4),
        "held_out_queries": len(held),
        "held_out_routed_to_their_adapter": round(routed, 4),
        "held_out_abstained": abstained_in_scope,
        "targets": {"general_answered_by_base": 0.9, "held_out_routed_to_their_adapter": 0.98},
        "general_still_routed": [{"input": q, "adapter": i["adapter"], "score": round(i["score"], 4)}
                                 for q, i in zip(general, g_infos) if i["adapter"] is not None],
        "seconds": round(seconds, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    res = measure()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(f"threshold {res['threshold']:.4f}: general questions answered by the bare backbone "
          f"{res['general_answered_by_base']:.1%} (target >= 90%), held-out task queries routed to their adapter "
          f"{res['held_out_routed_to_their_adapter']:.1%} (target >= 98%)")


if __name__ == "__main__":
    main()
