"""LlamaIndex selectors on CLINC150 (10 domains as tools), every method on the SAME queries.

Methods, and what each is given (the ``given`` sentence of every row says it again):

- ``AriadneSelector (examples)``: the domains' train utterances (15,000, 1,500 per domain) as example
  queries, embedded once; the router's default k-means centroids per domain.
- ``AriadneSelector (descriptions)``: only the hand-written descriptions below, no examples. A router
  with no routes makes every tool compete with its description's embedding as a single centroid
  (embedded once and cached). Same input as the next row, ARIADNE's selector: separates data from method.
- ``EmbeddingSingleSelector (descriptions)`` (LlamaIndex's own): one hand-written description per
  domain (``DESCRIPTIONS``), the same offline MiniLM embedder through AriadneEmbedding; it re-embeds the
  descriptions on every call.
- ``EmbeddingSingleSelector (examples, as descriptions)``: the same train utterances as ARIADNE, in the
  one form this selector takes, one description text per tool, built to cover the domain's spread as
  ARIADNE's centroids do. Per domain: the router's k-means centroids of the train embeddings (the ones
  ``AriadneSelector (examples)`` uses); for each centroid, the train utterance nearest it (cosine);
  those utterances ordered by their cluster's size (the number of the domain's utterances nearest that
  centroid), largest first, and joined with ``"; "`` while the joined text still fits the embedder's
  input window (``max_seq_length``, 256 word pieces with [CLS] and [SEP]), so nothing is truncated;
  duplicates are skipped.
- ``EmbeddingSingleSelector (most central examples, as descriptions)``: the same, but the utterances
  are the ones nearest the domain's normalised mean embedding, most central first (this tends to
  repeat the domain's densest one or two intents, e.g. alarms for ``utility``).
  Both texts per domain are stored in the JSON (``example_descriptions``).
- ``LLMSingleSelector (SmolLM2-135M)`` (LlamaIndex's own, default prompt): the descriptions, answered
  by the embedded SmolLM2-135M-Instruct backbone through AriadneLlamaLLM with no adapter (greedy,
  ``--llm-max-new-tokens``). An answer it cannot parse, or a choice out of range, counts as wrong. The
  JSON keeps which tool it picked how often (``picks``; every method has one).
- Baselines on the same queries: chance (a uniform random pick: expected accuracy 1/10) and always
  the first tool (banking's share of the queries).

Queries: the dev split's in-scope utterances in one seeded random order. Every method runs on the first
``--n`` (default 200); the LLM selector, slow on a CPU, on the first ``--n-llm`` (default 100) of
them. The primary table reports EVERY method on the first ``min(n, n_llm)`` queries (common to all);
when ``--n-llm`` < ``--n``, the other methods' accuracy on all ``--n`` queries is a secondary column.
Latency is wall time per ``selector.select(tools, query)`` call (embedding included) over all the calls
a method made, median and p95.

    python benchmarks/bench_llamaindex.py [--n 200] [--n-llm 100] [--seed 0] [--out FILE] [--methods ...]
    python benchmarks/bench_llamaindex.py --quick --out /tmp/quick.json   # 30 queries, LLM on 10 (smoke test)

Writes benchmarks/results/llamaindex.json (``--quick`` without ``--out`` writes to the temp folder).
The CPU is shared with other work: absolute times are noisy, read the ratios.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, OrderedDict, defaultdict
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
from tqdm.auto import tqdm

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "benchmarks" / "clinc150"
OUT = REPO / "benchmarks" / "results" / "llamaindex.json"

DEFAULT_N, DEFAULT_N_LLM = 200, 100
QUICK_N, QUICK_N_LLM = 30, 10
JOINER = "; "
FALLBACK_EXAMPLES_PER_DESCRIPTION = 20  # only when the embedder exposes no tokenizer to measure the window

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

# Method keys (JSON "results" keys and table rows), in table order, with their --methods short names.
ARIADNE_EX = "AriadneSelector (examples)"
ARIADNE_DESC = "AriadneSelector (descriptions)"
EMB_DESC = "EmbeddingSingleSelector (descriptions)"
EMB_EX = "EmbeddingSingleSelector (examples, as descriptions)"
EMB_CENTRAL = "EmbeddingSingleSelector (most central examples, as descriptions)"
LLM_KEY = "LLMSingleSelector (SmolLM2-135M)"
CHANCE = "chance (uniform random tool)"
FIRST = "always the first tool"
METHODS = OrderedDict([("ariadne", ARIADNE_EX), ("ariadne-desc", ARIADNE_DESC), ("embedding", EMB_DESC),
                       ("embedding-examples", EMB_EX), ("embedding-central", EMB_CENTRAL),
                       ("llm", LLM_KEY)])
UNPARSABLE = "(unparsable answer)"
OUT_OF_RANGE = "(choice out of range)"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def central_order(vecs: np.ndarray) -> list[int]:
    """Indices of the rows by cosine to their normalised mean, most central first."""
    mean = vecs.mean(axis=0)
    mean = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return [int(i) for i in np.argsort(-(vecs @ mean), kind="stable")]


def cluster_order(vecs: np.ndarray, centroids: np.ndarray) -> list[int]:
    """For each centroid the row nearest it, ordered by the centroid's cluster size, largest first."""
    sims = vecs @ centroids.T  # (n, k); rows and centroids are unit-norm
    sizes = np.bincount(sims.argmax(axis=1), minlength=centroids.shape[0])
    nearest = sims.argmax(axis=0)  # (k,)
    return [int(nearest[j]) for j in np.argsort(-sizes, kind="stable")]


def joined_description(texts: list[str], order: list[int], count_tokens: Callable[[str], int] | None,
                       max_tokens: int) -> tuple[str, int]:
    """``texts`` in ``order`` joined with JOINER while the result fits ``max_tokens``; duplicates skipped.

    Returns the description and how many utterances it holds. Without ``count_tokens`` it takes
    ``FALLBACK_EXAMPLES_PER_DESCRIPTION`` utterances.
    """
    picked: list[str] = []
    seen: set[str] = set()
    for i in order:
        t = texts[i].strip()
        if t.lower() in seen:
            continue
        if count_tokens is None:
            if len(picked) >= FALLBACK_EXAMPLES_PER_DESCRIPTION:
                break
        elif count_tokens(JOINER.join(picked + [t])) > max_tokens:
            break
        picked.append(t)
        seen.add(t.lower())
    if not picked:  # a single utterance longer than the window: the encoder truncates it
        picked = [texts[order[0]]]
    return JOINER.join(picked), len(picked)


def run_selector(name: str, select: Callable[[str], int], queries: list[tuple[str, str]], names: list[str]
                 ) -> dict[str, Any]:
    """Call ``select`` once per query; what it picked, whether that was right, and the time per call."""
    times, correct, picks = [], [], []
    for q, want in tqdm(queries, desc=name, unit="q", file=sys.stderr):
        t0 = time.perf_counter()
        try:
            i = select(q)
            pick = names[i] if 0 <= i < len(names) else OUT_OF_RANGE
        except Exception:  # noqa: BLE001 - an unparsable LLM answer is a wrong selection, counted
            pick = UNPARSABLE
        times.append(time.perf_counter() - t0)
        picks.append(pick)
        correct.append(int(pick == want))
    return {"times_ms": [t * 1000 for t in times], "picks_seq": picks, "correct": correct}


def summarise(raw: dict[str, Any], queries: list[tuple[str, str]], n_common: int, names: list[str]) -> dict[str, Any]:
    """Primary figures on the first ``n_common`` queries; latency over every call made."""
    correct, picks = raw["correct"][:n_common], raw["picks_seq"][:n_common]
    per_task: dict[str, list[int]] = defaultdict(list)
    for (_, want), ok in zip(queries[:n_common], correct):
        per_task[want].append(ok)
    hist = Counter(picks)
    ms = sorted(raw["times_ms"])
    out: dict[str, Any] = {
        "n": n_common,
        "accuracy": sum(correct) / n_common,
        "correct_count": sum(correct),
        "median_ms": statistics.median(ms),
        "p95_ms": ms[min(len(ms) - 1, int(math.ceil(0.95 * len(ms))) - 1)],
        "latency_calls": len(ms),
        "failures": hist.get(UNPARSABLE, 0) + hist.get(OUT_OF_RANGE, 0),
        "picks": {k: hist[k] for k in [*names, OUT_OF_RANGE, UNPARSABLE] if hist.get(k)},
        "per_task": {t: sum(v) / len(v) for t, v in sorted(per_task.items())},
    }
    n_all = len(raw["correct"])
    if n_all > n_common:
        out["secondary"] = {"n": n_all, "accuracy": sum(raw["correct"]) / n_all}
    out["correct"] = raw["correct"]  # per query, in the shuffled order, over every query this method saw
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--n", type=int, default=None,
                    help=f"queries for every method (default {DEFAULT_N}; --quick {QUICK_N}; 0 = all 3000)")
    ap.add_argument("--n-llm", type=int, default=None,
                    help=f"queries for LLMSingleSelector, the first of the --n (default {DEFAULT_N_LLM}; --quick {QUICK_N_LLM})")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke run: --n {QUICK_N} --n-llm {QUICK_N_LLM} unless given; output to the temp folder unless --out")
    ap.add_argument("--llm-max-new-tokens", type=int, default=64)
    ap.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {', '.join(METHODS)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help=f"JSON results (default {OUT.relative_to(REPO)})")
    args = ap.parse_args()
    wall0 = time.perf_counter()

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods) - set(METHODS)
    if unknown or not methods:
        ap.error(f"unknown methods {sorted(unknown)}; choose from {', '.join(METHODS)}")
    n_req = args.n if args.n is not None else (QUICK_N if args.quick else DEFAULT_N)
    n_llm_req = args.n_llm if args.n_llm is not None else (QUICK_N_LLM if args.quick else DEFAULT_N_LLM)
    if n_req < 0 or n_llm_req < 1:
        ap.error("--n must be >= 0 and --n-llm >= 1")
    out_path = args.out or (Path(tempfile.gettempdir()) / "llamaindex_quick.json" if args.quick else OUT)

    from llama_index.core.schema import QueryBundle
    from llama_index.core.selectors import EmbeddingSingleSelector, LLMSingleSelector
    from llama_index.core.tools import ToolMetadata

    from ariadne_integrations.llama_index import AriadneEmbedding, AriadneSelector
    from ariadne_integrations.routing.embedders import default_embedder
    from ariadne_integrations.routing.router import AriadneRouter

    load_before = os.getloadavg()
    train = read_jsonl(args.data / "train.jsonl")
    dev = [r for r in read_jsonl(args.data / "dev.jsonl") if r["task"] in DESCRIPTIONS]
    examples: OrderedDict[str, list[str]] = OrderedDict((k, []) for k in DESCRIPTIONS)
    for r in train:
        if r["task"] in examples:
            examples[r["task"]].append(r["input"])
    queries = [(r["input"], r["task"]) for r in dev]
    random.Random(args.seed).shuffle(queries)
    n = len(queries) if n_req == 0 else min(n_req, len(queries))
    n_llm = min(n_llm_req, n)
    n_common = n_llm if "llm" in methods else n
    queries = queries[:n]
    names = list(DESCRIPTIONS)
    tools = [ToolMetadata(name=k, description=DESCRIPTIONS[k]) for k in names]
    n_train = sum(map(len, examples.values()))

    embedder = default_embedder()
    embedder.embed(["warm up"])  # model load outside every timing

    raw: dict[str, dict[str, Any]] = {}
    given: dict[str, str] = {}
    info: dict[str, Any] = {}

    train_vecs: dict[str, np.ndarray] = {}
    router = None
    if {"ariadne", "embedding-examples", "embedding-central"} & set(methods):
        t0 = time.perf_counter()
        flat = embedder.embed([t for ts in examples.values() for t in ts], batch_size=64)
        info["embed_train_s"] = time.perf_counter() - t0
        start = 0
        for k, ts in examples.items():
            train_vecs[k] = flat[start:start + len(ts)]
            start += len(ts)
    if {"ariadne", "embedding-examples"} & set(methods):
        t0 = time.perf_counter()
        router = AriadneRouter(embedder)  # the default strategy (k-means) and seed, as from_examples uses
        for k in names:
            router.add_adapter_embeddings(k, train_vecs[k])
        info["ariadne_centroids_s"] = time.perf_counter() - t0
        info["ariadne_router"] = repr(router)

    if "ariadne" in methods:
        assert router is not None
        ariadne = AriadneSelector.from_router(router)
        ariadne.select(tools, "warm up")  # builds the cached choice set
        n_cent = sum(router.centroids(k).shape[0] for k in names)
        given[ARIADNE_EX] = (f"the {n_train:,} labelled train utterances ({n_train // len(names):,} per domain on average), "
                             f"embedded once; {n_cent} k-means centroids in all (the router's default strategy)")
        raw[ARIADNE_EX] = run_selector(ARIADNE_EX, lambda q: ariadne.select(tools, QueryBundle(q)).ind, queries, names)

    if "ariadne-desc" in methods:
        desc_only = AriadneSelector.from_router(AriadneRouter(embedder))  # no routes: every tool by its description
        desc_only.select(tools, "warm up")  # embeds the descriptions once (cached)
        given[ARIADNE_DESC] = ("only the hand-written description sentence per domain, no examples: each tool is one "
                               "centroid, its description's embedding, computed once and cached")
        raw[ARIADNE_DESC] = run_selector(ARIADNE_DESC, lambda q: desc_only.select(tools, QueryBundle(q)).ind, queries, names)

    embed_model = AriadneEmbedding(embedder)
    if "embedding" in methods:
        emb_sel = EmbeddingSingleSelector.from_defaults(embed_model=embed_model)
        given[EMB_DESC] = "one hand-written description sentence per domain, re-embedded on every call"
        raw[EMB_DESC] = run_selector(EMB_DESC, lambda q: emb_sel.select(tools, QueryBundle(q)).ind, queries, names)

    model = getattr(embedder, "model", None)
    tokenizer = getattr(model, "tokenizer", None)
    max_tokens = int(getattr(model, "max_seq_length", 0) or 0)
    count_tokens: Callable[[str], int] | None = None
    if tokenizer is not None and max_tokens > 0:
        def count_tokens(text: str) -> int:
            return len(tokenizer(text, add_special_tokens=True, truncation=False, verbose=False)["input_ids"])
    window = (f"the embedder's {max_tokens}-token window" if count_tokens
              else f"{FALLBACK_EXAMPLES_PER_DESCRIPTION} utterances")
    info["example_descriptions"], info["example_description_counts"] = {}, {}
    for short, key in (("embedding-examples", EMB_EX), ("embedding-central", EMB_CENTRAL)):
        if short not in methods:
            continue
        t0 = time.perf_counter()
        texts, counts = {}, {}
        for k in names:
            if key == EMB_EX:
                assert router is not None
                order = cluster_order(train_vecs[k], router.centroids(k))
            else:
                order = central_order(train_vecs[k])
            texts[k], counts[k] = joined_description(examples[k], order, count_tokens, max_tokens)
        info["example_descriptions"][key] = texts
        info["example_description_counts"][key] = counts
        info.setdefault("example_descriptions_s", {})[key] = time.perf_counter() - t0
        span = f"{min(counts.values())}-{max(counts.values())} utterances per domain"
        if key == EMB_EX:
            given[key] = (f"the same train utterances, as one description per domain: for each of ARIADNE's k-means "
                          f"centroids the utterance nearest it, largest cluster first, joined with '{JOINER}' while they "
                          f"fit {window} ({span}); re-embedded on every call")
        else:
            given[key] = (f"the same train utterances, as one description per domain: the ones nearest the domain's mean "
                          f"embedding, most central first, joined with '{JOINER}' while they fit {window} ({span}); "
                          "re-embedded on every call")
        ex_tools = [ToolMetadata(name=k, description=texts[k]) for k in names]
        ex_sel = EmbeddingSingleSelector.from_defaults(embed_model=embed_model)
        raw[key] = run_selector(key, lambda q, s=ex_sel, t=ex_tools: s.select(t, QueryBundle(q)).ind, queries, names)

    if "llm" in methods:
        from ariadne_integrations.llama_index import AriadneLlamaLLM

        t0 = time.perf_counter()
        llm = AriadneLlamaLLM(max_new_tokens=args.llm_max_new_tokens)  # bare backbone: no adapter, no routing
        llm.complete("warm up", max_tokens=1)  # backbone load / conversion outside the timings
        info["llm_load_s"] = time.perf_counter() - t0
        llm_sel = LLMSingleSelector.from_defaults(llm=llm)
        given[LLM_KEY] = ("the hand-written descriptions in LlamaIndex's default single-select prompt, answered by the bare "
                          f"SmolLM2-135M-Instruct backbone (greedy, at most {args.llm_max_new_tokens} new tokens); "
                          "an unparsable answer counts as wrong")
        raw[LLM_KEY] = run_selector(LLM_KEY, lambda q: llm_sel.select(tools, QueryBundle(q)).ind, queries[:n_llm], names)

    common = queries[:n_common]
    results: dict[str, dict[str, Any]] = {}
    for key in METHODS.values():
        if key in raw:
            results[key] = {"given": given[key], **summarise(raw[key], queries, n_common, names)}
    if LLM_KEY in results:
        results[LLM_KEY]["max_new_tokens"] = args.llm_max_new_tokens
    first_share = sum(want == names[0] for _, want in common) / n_common
    results[CHANCE] = {"given": f"nothing: a uniform random pick among the {len(names)} tools (expected accuracy, "
                                "the same on any query set)",
                       "n": n_common, "accuracy": 1 / len(names), "median_ms": None, "p95_ms": None}
    results[FIRST] = {"given": f"nothing: always the first tool of the list ({names[0]}); its accuracy is "
                               f"{names[0]}'s share of the queries",
                      "n": n_common, "accuracy": first_share, "correct_count": sum(want == names[0] for _, want in common),
                      "median_ms": None, "p95_ms": None}

    # ------------------------------------------------------------------ report
    secondary = any("secondary" in r for r in results.values())
    cols = ["method", "given", f"accuracy (same {n_common} queries)", "median ms", "p95 ms"]
    if secondary:
        cols.append(f"accuracy ({n} queries)")
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---", "---"] + ["---:"] * (len(cols) - 2)) + "|"]
    for key, r in results.items():
        acc = f"{100 * r['accuracy']:.1f} %"
        if r.get("correct_count") is not None and key != FIRST:
            acc += f" ({r['correct_count']}/{r['n']}" + (f"; {r['failures']} unparsable" if r.get("failures") else "") + ")"
        med = "—" if r["median_ms"] is None else f"{r['median_ms']:,.1f}"
        p95 = "—" if r["p95_ms"] is None else f"{r['p95_ms']:,.1f}"
        row = [f"`{key}`" if key in raw else key, r["given"], acc, med, p95]
        if secondary:
            row.append(f"{100 * r['secondary']['accuracy']:.1f} %" if "secondary" in r else "—")
        lines.append("| " + " | ".join(row) + " |")
    table = "\n".join(lines)

    notes = []
    if LLM_KEY in results:
        r = results[LLM_KEY]
        top, top_count = max(r["picks"].items(), key=lambda kv: kv[1])
        hist = ", ".join(f"{k} {v}" for k, v in sorted(r["picks"].items(), key=lambda kv: -kv[1]))
        notes.append(f"{LLM_KEY} picks on the {n_common} queries: {hist}.")
        first_picks = r["picks"].get(names[0], 0)
        parsed = n_common - r["failures"]
        if parsed and first_picks == parsed:
            notes.append(f"It degenerates to always picking the first tool ({names[0]}): every one of its {parsed} "
                         f"parsable answers chose it ({r['failures']} unparsable), so its accuracy "
                         f"{100 * r['accuracy']:.1f} % is the 'always the first tool' baseline "
                         f"({100 * first_share:.1f} %); chance is {100 / len(names):.1f} %.")
        elif top_count >= 0.8 * n_common:
            notes.append(f"It picks {top} on {top_count} of {n_common} queries ({100 * top_count / n_common:.0f} %); "
                         f"'always the first tool' scores {100 * first_share:.1f} %, chance {100 / len(names):.1f} %.")
        r["degenerate_first_tool"] = bool(parsed and first_picks == parsed)
    if secondary:
        notes.append(f"The last column: the same methods on all {n} queries (the LLM selector ran on the first {n_common}).")

    print(f"\nCLINC150 dev in-scope, {len(names)} domains as tools; every method on the same {n_common} queries "
          f"(seed {args.seed}; load avg before {load_before[0]:.1f})\n")
    print(table)
    print()
    for line in notes:
        print(line)
    if "embed_train_s" in info:
        print(f"one-off: embed {n_train:,} train utterances {info['embed_train_s']:.1f} s"
              + (f"; ARIADNE centroids {info['ariadne_centroids_s']:.1f} s" if "ariadne_centroids_s" in info else "")
              + "".join(f"; {k.split('(')[1].rstrip(')')} {v:.1f} s" for k, v in info.get("example_descriptions_s", {}).items()))
    load_after = os.getloadavg()
    wall_s = time.perf_counter() - wall0
    print(f"wall time {wall_s / 60:.1f} min; load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f} "
          f"on {os.cpu_count()} CPUs (shared machine: absolute times are noisy, compare ratios)")

    payload = {
        "benchmark": "llamaindex_selectors_clinc150",
        "data": str(args.data),
        "queries": ("dev split, in-scope only, one seeded shuffle; every method is scored on its first n_common "
                    "queries (the primary figures); secondary figures cover the first n"),
        "seed": args.seed,
        "n_common": n_common,
        "n": n,
        "n_llm": n_llm if "llm" in methods else None,
        "quick": args.quick,
        "query_tasks": dict(Counter(want for _, want in common)),
        "embedder": embedder.name,
        "llm": ("SmolLM2-135M-Instruct (bare backbone via AriadneLlamaLLM), default LlamaIndex single-select prompt, "
                f"max_new_tokens={args.llm_max_new_tokens}, greedy") if LLM_KEY in results else None,
        "descriptions": DESCRIPTIONS,
        **info,
        "results": results,
        "table_markdown": table,
        "notes": notes,
        "wall_s": wall_s,
        "load_avg_before": load_before,
        "load_avg_after": load_after,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=".llamaindex-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2)
    os.replace(tmp, out_path)
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
