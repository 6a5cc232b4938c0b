"""LlamaIndex selectors on CLINC150 (10 domains as tools): AriadneSelector vs EmbeddingSingleSelector vs
LLMSingleSelector, side by side.

- AriadneSelector: the domains' train utterances as example queries (embedded once, k-means centroids).
- EmbeddingSingleSelector (LlamaIndex's own): one description sentence per domain (written below), the
  same offline MiniLM embedder through AriadneEmbedding; it re-embeds the descriptions on every call.
- LLMSingleSelector (LlamaIndex's own, default prompt): driven by the embedded SmolLM2-135M-Instruct
  backbone through AriadneLlamaLLM with no adapter (bare backbone). Slow on a CPU, so it runs on a
  seeded subsample (default 100 queries); an answer it cannot parse, or a choice out of range, counts
  as wrong.

Queries are the dev split's in-scope utterances, taken in one seeded random order: the LLM selector
sees the first ``--n-llm`` (100), the embedding selector the first ``--n-embedding`` (200: it embeds 11
texts per call), ARIADNE the first ``--n-ariadne`` (1000; 0 = all 3000), so the first ``--n-llm``
queries are common to all three and reported as their own column (acc@100).
Latency is wall time per ``selector.select(tools, query)`` call (embedding included), median and p95.

    python benchmarks/bench_llamaindex.py [--n-ariadne 1000] [--n-embedding 200] [--n-llm 100] [--methods ariadne,embedding,llm]
    python benchmarks/bench_llamaindex.py --methods llm --update   # rerun one method, keep the others' results

Writes benchmarks/results/llamaindex.json. The CPU is shared with other work: absolute times are noisy,
read the ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tqdm.auto import tqdm

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "benchmarks" / "clinc150"
OUT = REPO / "benchmarks" / "results" / "llamaindex.json"

DESCRIPTIONS = {
    "banking": "Banking: account balances, transfers, transactions, paying bills, bill due dates, interest rates, "
               "frozen or blocked accounts, PIN changes, routing numbers and reporting fraud.",
    "credit_cards": "Credit cards: card applications, APR, credit limits, credit scores, rewards, declined, lost, "
                    "damaged or expiring cards, replacements and international fees.",
    "kitchen_and_dining": "Kitchen and dining: recipes, ingredients and substitutions, cooking times, calories and "
                          "nutrition, how long food lasts, restaurant suggestions, reviews and reservations.",
    "home": "Home: to-do lists, shopping lists, reminders, the calendar, playing music and playlists, smart home "
            "devices and ordering items.",
    "auto_and_commute": "Auto and commute: directions, traffic, distance, ride sharing, gas, fuel economy, car "
                        "maintenance, oil changes, tires and jump starts.",
    "travel": "Travel: booking flights, hotels and rental cars, flight status, luggage, visas, vaccines, travel "
              "alerts, exchange rates, time zones, plug types and translating phrases.",
    "utility": "Utility: time, date, weather, timers, alarms, a calculator, unit conversions, spelling, "
               "definitions, flipping coins, rolling dice, calls, texts and finding the phone.",
    "work": "Work: paydays, income, direct deposit, taxes and W-2 forms, insurance, 401k rollovers, paid time off "
            "requests and balances, holidays and scheduling meetings.",
    "small_talk": "Small talk with the assistant: greetings, goodbyes, thanks, jokes, fun facts, and questions "
                  "about the assistant itself such as its name, age, hobbies, pets or who made it.",
    "meta": "Settings of the assistant itself: its name, language, accent, voice speed and volume, whisper mode, "
            "syncing devices, resetting settings, repeating, cancelling, and answering yes, no or maybe.",
}


LLM_KEY = "LLMSingleSelector (SmolLM2-135M)"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def run_selector(name: str, select: Callable[[str], int], queries: list[tuple[str, str]], names: list[str]
                 ) -> dict[str, Any]:
    """Call ``select`` once per query; wrong or failed selections count as errors."""
    times, correct, failures = [], [], 0
    per_task: dict[str, list[int]] = defaultdict(list)
    for q, want in tqdm(queries, desc=name, unit="q", file=sys.stderr):
        t0 = time.perf_counter()
        try:
            i = select(q)
            ok = 0 <= i < len(names) and names[i] == want
        except Exception:  # noqa: BLE001 - an unparsable LLM answer is a wrong selection, counted
            failures += 1
            ok = False
        times.append(time.perf_counter() - t0)
        correct.append(int(ok))
        per_task[want].append(int(ok))
    ms = sorted(t * 1000 for t in times)
    return {
        "n": len(queries),
        "accuracy": sum(correct) / len(correct),
        "median_ms": statistics.median(ms),
        "p95_ms": ms[min(len(ms) - 1, int(0.95 * len(ms)))],
        "failures": failures,
        "per_task": {t: sum(v) / len(v) for t, v in sorted(per_task.items())},
        "correct": correct,
        "load_avg_after": os.getloadavg()[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--n-embedding", type=int, default=200, help="queries for EmbeddingSingleSelector (0 = all)")
    ap.add_argument("--n-llm", type=int, default=100, help="queries for LLMSingleSelector (seeded subsample)")
    ap.add_argument("--n-ariadne", type=int, default=1000, help="queries for AriadneSelector (0 = all)")
    ap.add_argument("--llm-max-new-tokens", type=int, default=64)
    ap.add_argument("--methods", default="ariadne,embedding,llm", help="comma-separated subset to run")
    ap.add_argument("--update", action="store_true",
                    help="keep the results of methods not run now from the existing --out file (same seed and data)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    from llama_index.core.schema import QueryBundle
    from llama_index.core.selectors import EmbeddingSingleSelector, LLMSingleSelector
    from llama_index.core.tools import ToolMetadata

    from ariadne_integrations.llama_index import AriadneEmbedding, AriadneSelector
    from ariadne_integrations.routing.embedders import default_embedder

    methods = {m.strip() for m in args.methods.split(",") if m.strip()}
    unknown = methods - {"ariadne", "embedding", "llm"}
    if unknown:
        ap.error(f"unknown methods {sorted(unknown)}; choose from ariadne, embedding, llm")
    load_before = os.getloadavg()
    train = read_jsonl(args.data / "train.jsonl")
    dev = [r for r in read_jsonl(args.data / "dev.jsonl") if r["task"] in DESCRIPTIONS]
    examples: OrderedDict[str, list[str]] = OrderedDict((k, []) for k in DESCRIPTIONS)
    for r in train:
        examples[r["task"]].append(r["input"])
    queries = [(r["input"], r["task"]) for r in dev]
    random.Random(args.seed).shuffle(queries)
    names = list(DESCRIPTIONS)
    tools = [ToolMetadata(name=n, description=DESCRIPTIONS[n]) for n in names]

    embedder = default_embedder()
    embedder.embed(["warm up"])  # model load outside every timing

    n_ar = len(queries) if args.n_ariadne <= 0 else min(args.n_ariadne, len(queries))
    n_emb = len(queries) if args.n_embedding <= 0 else min(args.n_embedding, len(queries))
    n_llm = min(args.n_llm, len(queries))

    results: dict[str, dict[str, Any]] = {}
    previous: dict[str, Any] = {}
    if args.update and args.out.exists():
        previous = json.loads(args.out.read_text(encoding="utf-8"))
        if previous.get("seed") == args.seed and previous.get("data") == str(args.data):
            results.update(previous.get("results", {}))
        else:
            print("--update: existing results use another seed or data; starting afresh", file=sys.stderr)
            previous = {}

    build_s = previous.get("ariadne_build_s")
    router_repr = previous.get("ariadne_router")
    if "ariadne" in methods:
        t0 = time.perf_counter()
        ariadne = AriadneSelector.from_examples(examples, embedder=embedder)
        ariadne.select(tools, "warm up")  # builds the cached choice set
        build_s = time.perf_counter() - t0
        router_repr = repr(ariadne.router)
        results["AriadneSelector"] = run_selector(
            "AriadneSelector", lambda q: ariadne.select(tools, QueryBundle(q)).ind, queries[:n_ar], names)

    if "embedding" in methods:
        emb_sel = EmbeddingSingleSelector.from_defaults(embed_model=AriadneEmbedding(embedder))
        results["EmbeddingSingleSelector"] = run_selector(
            "EmbeddingSingleSelector", lambda q: emb_sel.select(tools, QueryBundle(q)).ind, queries[:n_emb], names)

    if "llm" in methods:
        from ariadne_integrations.llama_index import AriadneLlamaLLM

        llm = AriadneLlamaLLM(max_new_tokens=args.llm_max_new_tokens)  # bare backbone: no adapter, no routing
        llm.complete("warm up", max_tokens=1)  # backbone load / conversion outside the timings
        llm_sel = LLMSingleSelector.from_defaults(llm=llm)
        results[LLM_KEY] = run_selector(
            "LLMSingleSelector", lambda q: llm_sel.select(tools, QueryBundle(q)).ind, queries[:n_llm], names)
        results[LLM_KEY]["max_new_tokens"] = args.llm_max_new_tokens
    if "AriadneSelector" not in results:
        ap.error("no AriadneSelector results to compare with: include 'ariadne' in --methods (or --update a file that has them)")

    n_common = min(r["n"] for r in results.values())
    for r in results.values():
        r["accuracy_common"] = sum(r["correct"][:n_common]) / n_common
    base_ms = results["AriadneSelector"]["median_ms"]

    header = f"{'selector':<34} {'n':>5} {'accuracy':>9} {'acc@' + str(n_common):>9} {'median ms':>10} {'p95 ms':>9} {'vs ARIADNE':>11} {'failures':>9}"
    print(f"\nCLINC150 dev in-scope, 10 domains as tools (seed {args.seed}; load avg before {load_before[0]:.1f})")
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        print(f"{name:<34} {r['n']:>5} {100 * r['accuracy']:>8.1f}% {100 * r['accuracy_common']:>8.1f}% "
              f"{r['median_ms']:>10.1f} {r['p95_ms']:>9.1f} {r['median_ms'] / base_ms:>10.1f}x {r['failures']:>9}")
    if build_s is not None:
        print(f"AriadneSelector one-off build (embed {sum(map(len, examples.values()))} examples, centroids): {build_s:.1f} s")
    print(f"acc@{n_common}: accuracy on the first {n_common} queries of the shuffle, which every selector saw")
    load_after = os.getloadavg()
    print(f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f} on {os.cpu_count()} CPUs "
          "(shared machine: absolute times are noisy, compare ratios)")

    payload = {
        "benchmark": "llamaindex_selectors_clinc150",
        "data": str(args.data),
        "queries": "dev split, in-scope only, seeded shuffle; each selector takes the first n",
        "seed": args.seed,
        "n_common": n_common,
        "ariadne_build_s": build_s,
        "ariadne_router": router_repr,
        "embedder": embedder.name,
        "llm": "SmolLM2-135M-Instruct (bare backbone via AriadneLlamaLLM), default LlamaIndex single-select prompt, "
               f"max_new_tokens={results[LLM_KEY].get('max_new_tokens')}, greedy" if LLM_KEY in results else None,
        "descriptions": DESCRIPTIONS,
        "results": results,
        "load_avg_before": load_before,
        "load_avg_after": load_after,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=args.out.parent, prefix=".llamaindex-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2)
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
