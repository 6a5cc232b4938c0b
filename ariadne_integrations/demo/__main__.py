"""The main demo (``make demo`` = ``python -m ariadne_integrations.demo``).

An agent-style LCEL chain on the embedded defaults: a compound request is split into sub-queries
(a deterministic RunnableLambda, not the 135M model), every sub-query is routed to its demo LoRA
adapter and answered in ONE batched ``AriadneLLM`` call, and a table shows for each sub-query the
adapter chosen, the routing score and the answer.

Usage::

    python -m ariadne_integrations.demo                      # the built-in compound request
    python -m ariadne_integrations.demo "req one; req two"   # your own (split on newlines, ';', ' and then ')
    python -m ariadne_integrations.demo --json ...           # machine-readable rows
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
from typing import Any

DEFAULT_REQUEST = (
    "Classify the sentiment: The blender broke after two days, a total waste of money.; "
    "Translate to SQL: list the products in the kitchen category; "
    "Convert the date to ISO format: The invoice is due on March 3, 2025.; "
    "Customer message: I was charged twice for order #48213, I want my money back. "
    "and then Is this review positive or negative? Amazing lamp, it exceeded my expectations."
)

_SEPARATORS = re.compile(r"\s*(?:\n+|;|\band then\b)\s*", flags=re.IGNORECASE)
_SENTENCES = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def split_request(request: str) -> list[str]:
    """Split a compound request into sub-queries: on newlines, ';' and ' and then '; only when none of
    those occur, on sentence ends (tasks such as 'What is the date in ISO format? ...' contain a '?')."""
    if not isinstance(request, str) or not request.strip():
        raise ValueError("the request is empty: give the text to split into sub-queries")
    parts = [p.strip(" .") for p in _SEPARATORS.split(request)]
    parts = [p for p in parts if p]
    if len(parts) <= 1:
        parts = [p.strip() for p in _SENTENCES.split(request.strip()) if p.strip()]
    return parts


def build_chain(llm: Any) -> Any:
    """split | route-and-answer-all-at-once -> rows."""
    from langchain_core.runnables import RunnableLambda

    def answer_all(subqueries: list[str]) -> list[dict[str, Any]]:
        # One LLM call: routed in one embedding pass, generated in one mixed-adapter batch.
        result = llm.generate(subqueries)
        rows = []
        for q, gens in zip(subqueries, result.generations):
            info = gens[0].generation_info or {}
            rows.append({"query": q, "adapter": info.get("adapter"), "score": info.get("score"),
                         "runner_up": info.get("runner_up"), "answer": gens[0].text.strip()})
        return rows

    return RunnableLambda(split_request, name="split_request") | RunnableLambda(answer_all, name="route_and_answer")


def _table(rows: list[dict[str, Any]]) -> str:
    def cut(s: str, n: int) -> str:
        s = " ".join(str(s).split())
        return s if len(s) <= n else s[: n - 1] + "…"

    head = ("sub-query", "adapter", "score", "answer")
    body = [(cut(r["query"], 58), r["adapter"] or "(base)", f"{r['score']:.3f}" if r["score"] is not None else "-",
             cut(r["answer"], 50)) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    fmt = "| " + " | ".join(f"{{:{w}}}" for w in widths) + " |"
    return "\n".join([line, fmt.format(*head), line, *(fmt.format(*b) for b in body), line])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ariadne_integrations.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("request", nargs="*", help="compound request (default: a built-in one)")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="[demo] %(message)s")
    log = logging.getLogger("ariadne_integrations.demo")
    t0 = time.perf_counter()

    from ariadne_integrations.demo import demo_index_path
    from ariadne_integrations.langchain import AriadneLLM

    request = " ".join(args.request) if args.request else DEFAULT_REQUEST
    try:
        index = demo_index_path()
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    llm = AriadneLLM.from_index(index, max_new_tokens=args.max_new_tokens)
    chain = build_chain(llm)
    log.info("request: %s", request)
    log.info("splitting, routing and answering all sub-queries in one batched call "
             "(the first run converts the embedded backbone once and caches it)")
    try:
        rows = chain.invoke(request)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        print(_table(rows))
    log.info("done in %.1f s (%d sub-queries, one routed batch)", time.perf_counter() - t0, len(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
