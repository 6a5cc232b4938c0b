"""Render the measured figures from the benchmarks' JSON: docs/BENCHMARKS.md (every table) and README's short
"Results" section (between the ``<!-- results:begin -->`` / ``<!-- results:end -->`` markers).

    python scripts/render_results.py           # rewrite both from benchmarks/results/*.json
    python scripts/render_results.py --check   # exit 1 if either is out of date (tests/test_results_doc.py)

Every number in those two places comes from a results file written by the benchmark named beside it, so a
figure cannot drift from the run that produced it. Plots are drawn by the benchmarks themselves (PNG committed
under docs/images/) and re-drawn from the JSON here when ``--plots`` is given.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "BENCHMARKS.md"
README = ROOT / "README.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json" if "/" not in name else ROOT / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f} %"


def num(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x:,.{digits}f}"


def table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ sections
Section = Callable[[], "str | None"]


def sec_peers() -> str | None:
    r = load("routing")
    p = (r or {}).get("peers")
    if not p or r.get("quick"):
        return None
    cols = p["columns"]
    names = list(next(iter(cols.values()))["methods"])
    label = {"bbh": "BBH", "clinc150 domains": "CLINC150 domains", "clinc150 intents": "CLINC150 intents",
             "bbh + clinc150 domains": "BBH + CLINC150 domains"}
    header = ["selection accuracy on dev"] + [f"{label.get(c, c)} ({v['adapters']} adapters)" for c, v in cols.items()]
    rows = []
    for name in names:
        bold = "[default]" in name
        cells = [pct(v["methods"].get(name, {}).get("selection_accuracy"), 2) for v in cols.values()]
        rows.append([f"**{name}**" if bold else name] + [f"**{x}**" if bold else x for x in cells])
    rivals = ", ".join(f"{label.get(c, c)}: {'yes' if v['default_ge_every_training_free_rival'] else 'no'}" for c, v in cols.items())
    sp = p["speed"]
    alone = ((r.get("speed") or {}).get("by_threads") or {}).get("onnx, 2 threads", {}).get("single_query_ms", {}).get("p50")
    clinc_race = sp.get("clinc150 domains", {}).get("ariadne_route_ms", {}).get("p50")
    sp_ours_alone = (f"{clinc_race:.1f} ms on CLINC150 here against {alone:.1f} ms alone in the speed section"
                     if alone and clinc_race else "a different speed than alone")
    speed_rows = [[label.get(c, c), str(v["n"]), f"{v['query_words_median']:.0f}", f"{v['ariadne_route_ms']['p50']:.1f} ms",
                   f"{v['semantic_router_call_ms']['p50']:.1f} ms", f"**{v['speedup_p50']:.3f}×**",
                   f"{v['interleaved_per_query']['speedup_p50']:.1f}×" if "interleaved_per_query" in v else "n/a"]
                  for c, v in sp.items()]
    t = p["targets"]
    curve = p.get("curve_png")
    out = f"""## Routing: side by side with the peers

`python benchmarks/bench_routing.py` (`benchmarks/results/routing.json`, key `peers`): the same embedder
(all-MiniLM-L6-v2), data and dev split for every method, in one run. semantic-router {p['semantic_router']['version']}:
`IndexedRouter` over `LocalIndex`, one route per adapter with its training inputs as utterances, its defaults
(top_k={p['semantic_router']['top_k']}, {p['semantic_router']['aggregation']} aggregation); LlamaIndex: `EmbeddingSingleSelector` over the
adapters' descriptions. "trained logreg" is a classifier trained on the same embeddings: a reference, not a rival.

{table(header, rows)}

The default is at or above every training-free rival on each column: {rivals}.

Single-query latency on the same queries (ours: `router.route(q)` with the ONNX embedder; semantic-router: `router(q)`
with its `HuggingFaceEncoder` on the same model folder), timed in alternating blocks of 10 queries per system, the
first call of each block not counted, so no timed call directly follows the other system's (both still share one
process, and ours ran at {sp_ours_alone}); targets ≥ 5× on
CLINC150's short queries ({'met' if t['speedup_clinc150_ge_5x'] else '**not met**'}), ≥ 3× on BBH's long prompts ({'met' if t['speedup_bbh_ge_3x'] else '**not met**'}). The last column
times them query by query, each call right after the other system's, whose still-spinning thread pool (torch's
OpenMP, ONNX Runtime's, BLAS) takes cores on a 2-core machine; it is shown for comparison with earlier runs, which
timed that way.

{table(["queries", "n", "median words", "ours p50", "semantic-router p50", "speed-up", "query by query"], speed_rows)}
"""
    if curve:
        out += f"""
Selection accuracy vs training examples per adapter (seeded subsamples; `{curve}`):

![accuracy vs examples per adapter]({curve.removeprefix('docs/')})
"""
    return out


def sec_generation() -> str | None:
    g = load("generation")
    if g is None:
        return None
    m = g["median_seconds"]
    rows = [
        ["one mixed-adapter batch (fast decode loop)", f"{m['mixed_batch']:.2f} s", ""],
        ["one call per prompt", f"{m['one_by_one']:.2f} s",
         f"mixed batch **{g['speedup_mixed_vs_one_by_one']:.2f}×** faster (target {g['targets']['speedup_mixed_vs_one_by_one']})"],
        ["same batch, adapters disabled", f"{m['adapters_disabled']:.2f} s",
         f"mixed batch runs at **{g['mixed_speed_vs_disabled']:.2f}×** its speed (target {g['targets']['mixed_speed_vs_disabled']})"],
    ]
    if "mixed_batch_generate" in m:
        rows.append(["same batch through transformers' `generate` (`fast_decode=False`)", f"{m['mixed_batch_generate']:.2f} s",
                     f"fast loop {g['speedup_vs_generate']:.2f}× faster"])
    rows.append(["mixed batch through peft's own per-adapter loop", f"{m['mixed_batch_peft_loop']:.2f} s",
                 f"{g['peft_loop_speedup_vs_one_by_one']:.2f}× / {g['peft_loop_speed_vs_disabled']:.2f}×"])
    text = f"""## Runtime: mixed-adapter batches and decode speed

`python benchmarks/bench_generation.py --repeats {g['repeats']}` (`benchmarks/results/generation.json`): {g['prompts']} prompts over
{g['adapters']} demo adapters, exactly {g['new_tokens']} new tokens, torch {g['torch_threads']} threads, medians.

{table(["mode", "median", "ratio"], rows)}
"""
    if "step_seconds" not in g:
        return text
    cpu, st, fl = g["cpu"], g["step_seconds"], g["floor_seconds"]
    step_rows = [
        ["fast decode loop, adapters mixed", f"{1000 * st['mixed_batch']:.1f} ms",
         f"**{g['step_vs_memory_floor']:.2f}×** the floor (target {g['targets']['step_vs_floor']})"],
        ["fast decode loop, adapters off", f"{1000 * st['adapters_disabled']:.1f} ms", f"{st['adapters_disabled'] / fl['memory']:.2f}×"],
        ["transformers `generate` + fast mixed LoRA", f"{1000 * st['mixed_batch_generate']:.1f} ms",
         f"{g['generate_step_vs_memory_floor']:.2f}×"],
        ["floor: the step's matrix products alone, every layer's own weights", f"{1000 * fl['memory']:.1f} ms", "1×"],
        ["compute floor: the same products, one layer's weights reused (in cache)", f"{1000 * fl['compute']:.1f} ms",
         f"step = {g['step_vs_compute_floor']:.2f}× this"],
    ]
    size_rows = [[k, f"{v['mixed_tokens_per_s']:.1f}", f"{v['off_tokens_per_s']:.1f}", f"{v['mixed_vs_off']:.2f}"]
                 for k, v in g["batch_sizes"].items()]
    t, ttft = g["single_stream_tokens_per_s"], g["time_to_first_token_ms"]
    single_rows = [["in process, fast loop (bare backbone / with an adapter)", f"{t['fast_base']:.1f} / {t['fast_adapter']:.1f}",
                    f"{ttft['fast']:.0f} ms"],
                   ["in process, transformers `generate` (with an adapter)", f"{t['generate_adapter']:.1f}", f"{ttft['generate']:.0f} ms"],
                   ["floor: all float32 weight bytes once per token", f"{g['single_stream_memory_floor_tokens_per_s']:.1f}", ""]]
    e = g.get("engine")
    if e:
        single_rows.append(["llama.cpp server, Q4_1 GGUF, one request at a time", f"{e['tokens_per_s']:.1f}",
                            f"{e['time_to_first_token_ms']:.0f} ms" if e.get("time_to_first_token_ms") else ""])
    b = g.get("bf16")
    if b:
        single_rows.append(["in process, fast loop, **bfloat16** weights (opt-in `dtype=\"bfloat16\"`)",
                            f"{b['single_stream_tokens_per_s']:.1f}", ""])
    text += f"""
CPU: {cpu['model']}, {cpu['cores']} cores, flags {', '.join(cpu['flags'])}; torch {cpu['torch']}. One decoding step of the
{g['prompts']}-prompt mixed batch (time of {g['new_tokens']} tokens minus time of 1, over {g['new_tokens'] - 1}) next to its matrix products timed alone in
the same run from the model's config:

{table(["decoding step", "time", "vs floor"], step_rows)}

Batches of 1 to 64 prompts, tokens/s (prefill included), adapters mixed vs off:

{table(["prompts", "mixed tok/s", "off tok/s", "mixed / off (target ≥ 0.85)"], size_rows)}

One prompt at a time ({g['new_tokens']} tokens each, prefill included), tokens/s and time to the first streamed text:

{table(["single stream", "tok/s", "first token"], single_rows)}
"""
    if e:
        ratio, floor = g['single_stream_vs_llamacpp'], g['single_stream_memory_floor_tokens_per_s']
        text += f"""
Ours / llama.cpp in a single stream: **{ratio:.2f}** (target ≥ 0.8, {'met' if ratio >= 0.8 else '**not met**'} on this machine).
What bounds it: a single stream reads every weight once per token, and the float32 weights are ~4× the bytes of
Q4_1; on this machine those bytes alone cap float32 at {floor:.1f} tok/s ({floor / e['tokens_per_s']:.2f}× llama.cpp's rate here), and the
fast loop runs at {g['single_stream_tokens_per_s']['fast_base'] / floor:.2f} of that cap (the rest is per-operator overhead of a one-row step).
The ratio depends on the machine (memory bandwidth and cache against llama.cpp's kernels): on a 2-core AMD EPYC
(2026-12-04) the same script measured 18.0 vs 64.2 tok/s, 0.28×, with a float32 cap of 0.36×.
"""
    rg = load("route_then_generate")
    if rg:
        sm, nm = rg["median_ms"]["spin"], rg["median_ms"]["no_spin"]
        text += f"""
Route, then generate, in one process (`python benchmarks/bench_route_then_generate.py`, `benchmarks/results/route_then_generate.json`;
{rg['queries']} demo queries, {rg['new_tokens']} new token, alternating blocks): with ONNX Runtime's threads spinning after each
routing run (its default) the generation that followed took {sm['generate']:.1f} ms, without spinning {nm['generate']:.1f} ms
({rg['generate_after_route_spin_vs_no_spin']:.2f}× as long with it); routing alone takes {sm['route_alone']:.2f} ms with spinning and {nm['route_alone']:.2f} ms without. So a routed generator
(`core.RoutedGenerator`, behind `AriadneLLM`, the chat model and the LlamaIndex LLM) turns spinning off
(`set_onnx_spinning(False)`); a process that only routes keeps it.
"""
    c = load("compile")
    if c:
        text += f"""
`torch.compile` (`python benchmarks/bench_compile.py`: the same loop's forward compiled by inductor, dynamic shapes):
single stream {c['single']['compiled_vs_eager']:.2f}× the eager loop's speed, 16-prompt batch {c['batch16']['compiled_vs_eager']:.2f}×, after
{c['compile_and_first_calls_s']:.0f} s of compiling; {'faster, ' if min(c['single']['compiled_vs_eager'], c['batch16']['compiled_vs_eager']) > 1 else 'not faster, so '}the loop runs eagerly.
"""
    if b:
        text += f"""
bfloat16 (this CPU has native bf16 dot products): the mixed batch {b['speedup_vs_float32']:.2f}× faster (step
{1000 * b['step_seconds']:.1f} ms, floor {1000 * b['memory_floor_seconds']:.1f} ms), single stream {b['single_stream_speedup_vs_float32']:.2f}× faster; greedy answers equal
to float32 on {b['greedy_answers_equal_float32']}/{b['of']} of these prompts"""
        if "demo_pool_rows" in b:
            text += f""" and on {b['demo_pool_answers_equal_float32']}/{b['demo_pool_rows']} rows of the demo pool ({b['demo_pool_adapter_rows_differing']} of
them adapter rows, the rest the bare backbone's free text)"""
        changed = b.get("demo_pool_answers_equal_float32", b["greedy_answers_equal_float32"]) < b.get("demo_pool_rows", b["of"])
        text += (""". Answers change, so float32 stays the default on CPUs and bfloat16 is opt-in
(`dtype="bfloat16"`).
""" if changed else """. No answer changed in this run; float32 is still the default (bfloat16 is opt-in, `dtype="bfloat16"`).
""")
    return text


def sec_demo_pool() -> str | None:
    s = load("ariadne_integrations/demo/scores.json")
    a, d = load("abstention_demo"), load("demo")
    if s is None:
        return None
    rows = []
    for task, t in s["tasks"].items():
        rows.append([f"{task} ({t['n']} held-out)", pct(t["base_exact_match"]), pct(t["base_lenient_match"]),
                     f"{pct(t['base_format_instructed_exact_match'])} / {pct(t['base_format_instructed_lenient_match'])}",
                     f"**{pct(t['adapter_exact_match'])}**"])
    r = s["routing"]
    out = f"""## Demo pool

`python scripts/build_demo_pool.py --index --score` (`ariadne_integrations/demo/scores.json`). Held-out queries
are written from templates (and partly fillers) that training never uses; greedy, {s['decoding']['max_new_tokens']} new tokens.
The base model is scored three ways, so the adapters' gain is not just output format.

{table(["task", "base: exact", "base: label contained", "base: format-instructed (exact / contained)", "its adapter: exact"], rows)}

Routing on the held-out split: {pct(r['selection_accuracy'], 2)} ({round(r['selection_accuracy'] * r['n'])}/{r['n']}).
"""
    if a is not None:
        still = a["general_still_routed"]
        out += f"""
**Abstention on the demo pool**: `python benchmarks/bench_abstention_demo.py` (`benchmarks/results/abstention_demo.json`).
The demo index's threshold ({a['threshold']:.3f}) was chosen by `scripts/build_demo_pool.py --index` (the lowest
threshold sending 90 % of `data/oos_calibration.jsonl` to the bare backbone); measured on sets calibration never saw:

{table(["set", "share", "target"], [
    [f"general questions ({a['general_questions']}, `data/oos_test.jsonl`) answered by the bare backbone",
     f"**{pct(a['general_answered_by_base'])}**", f"≥ {pct(a['targets']['general_answered_by_base'], 0)}"],
    [f"demo tasks' held-out queries ({a['held_out_queries']}) routed to their own adapter",
     f"**{pct(a['held_out_routed_to_their_adapter'])}**", f"≥ {pct(a['targets']['held_out_routed_to_their_adapter'], 0)}"],
])}

General questions still routed ({len(still)}): {"; ".join(f"{x['input']!r} → `{x['adapter']}` ({x['score']:.3f})" for x in still)}.
"""
    if d is not None:
        out += f"""
**Main demo**: `python benchmarks/bench_demo.py` (`benchmarks/results/demo.json`): {d['sub_queries']} sub-queries, each routed to
the right adapter and answered right, in one batched call; cold (empty cache: GGUF conversion + ONNX export)
**{d['cold_seconds']} s**, warm **{d['warm_seconds']} s** (process start to printed answers).
"""
    return out


def sec_langchain() -> str | None:
    lc = load("langchain")
    if lc is None:
        return None
    out = [f"""## LangChain: concurrent calls coalesced

`python benchmarks/bench_langchain.py --repeats {lc['repeats']}` (`benchmarks/results/langchain.json`): {lc['n_prompts']} demo prompts
over {len(lc['adapters'])} adapters (routed right: {lc['routed_to_expected_adapter']}), greedy, coalescing window
{lc['coalesce_window_ms']:.0f} ms, medians of {lc['repeats']}. Targets: (b), (c), (d) ≥ {lc['targets']['concurrent_speed_vs_batch']}× (a) and
≥ {lc['targets']['concurrent_speed_vs_loop']}× (e), answers identical to (a).
"""]
    for s in lc["settings"]:
        rows = [[v["label"], f"{v['s_median']:.2f} s", f"{v['speed_vs_batch']:.2f}×", f"{v['speed_vs_loop']:.2f}×",
                 v["answers_equal_batch"], str(v["generate_calls_last_repeat"])] for v in s["runs"].values()]
        out.append(f"**{s['setting']}** (mean {s['mean_completion_tokens']} tokens per answer; routing {s['route_ms_median']} ms "
                   f"= {s['routing_overhead_pct']} % of an `invoke`)\n\n"
                   + table(["setting", "median", "speed vs (a)", "speed vs (e)", "answers = (a)", "`generate` calls"], rows) + "\n")
    out.append("A sync LangGraph node runs in LangGraph's thread pool, which starts fewer threads than 16 sub-queries on a "
               "2-core machine, so the fan-out arrives in waves; `config={\"max_concurrency\": 16}` makes it one.\n")
    return "\n".join(out)


def sec_structured() -> str | None:
    st = load("structured")
    if st is None:
        return None
    f, c = st["median"]["free"], st["median"]["constrained"]
    em = "; ".join(f"{t} {v['free']} vs {v['constrained']}" for t, v in st["exact_match_free_vs_constrained"].items())
    return f"""## Structured output

`python benchmarks/bench_structured.py --repeats {st['repeats']}` (`benchmarks/results/structured.json`): {st['prompts']} held-out demo prompts
({st['adapters']} adapters) in ONE mixed-adapter batch, each row with its own JSON schema, greedy, ≤ {st['max_new_tokens']} tokens, {st['library']}.

{table(["decoding", "ms per step (median)", "of which token masks", "answers that parse"], [
    ["free", num(f['ms_per_step']), "0", ""],
    ["constrained to each row's schema", f"{num(c['ms_per_step'])} (**{st['constrained_vs_free_ms_per_step']:.2f}×**)",
     num(c['mask_ms_per_step']), f"**{st['constrained_answers_parse']}**"],
])}

Exact match of the adapter's answer, free vs wrapped in the schema's one field: {em}.
"""


def sec_llamaindex() -> str | None:
    li = load("llamaindex")
    if li is None:
        return None
    rows = [[name, r["given"], f"**{pct(r['accuracy'])}**" if i == 0 else pct(r["accuracy"]),
             num(r.get("median_ms")) if r.get("median_ms") is not None else ""]
            for i, (name, r) in enumerate(li["results"].items())]
    return f"""## LlamaIndex selectors

`python benchmarks/bench_llamaindex.py` (`benchmarks/results/llamaindex.json`): CLINC150, 10 domains as tools, every selector on
the same {li['n_common']} seeded in-scope dev queries.

{table(["selector", "given", "accuracy", "median ms"], rows, "llrr")}
"""


def sec_engine() -> str | None:
    e = load("engine")
    if e is None:
        return None
    m, t = e["median_seconds"], e["tokens_per_second"]
    label = {"in_process_mixed_batch": "in process: one mixed-adapter batch (`AdapterRuntime`)",
             "server_concurrent_16": "llama.cpp server, 16 concurrent requests, each to its adapter's alias",
             "server_sequential_grouped": "llama.cpp server, one request at a time, grouped by adapter",
             "server_sequential_one_alias": "llama.cpp server, one at a time on `base` (no LoRA, no alias switch)"}
    rows = [[label[k], f"{m[k]:.1f} s", f"{t[k]:.0f}"] for k in label]
    return f"""## llama.cpp server vs in process

`python benchmarks/bench_engine.py --repeats {e['repeats']}` (`benchmarks/results/engine.json`): {e['prompts']} mixed prompts
({e['adapters']} adapters) × exactly {e['new_tokens']} new tokens, greedy, both sides on {e['cpu_count']} cores; medians.

{table(["mode", "median", "tokens/s"], rows)}

In process is **{e['ratio_in_process_vs_server_concurrent']:.1f}× faster** than the server with 16 concurrent requests on this CPU:
llama-cpp-python's server decodes one request at a time and reloads the backbone with the next LoRA at every alias
switch, while the in-process runtime decodes every row, each with its own adapter, in one batch.
"""


def sec_scale() -> str | None:
    s = load("scale")
    if s is None:
        return None
    rows = []
    for n, r in s["sizes"].items():
        ex, an = r["exact"], r.get("ann")
        rows.append([f"{int(n):,}", f"{r['centroids']:,}", f"{ex['search_ms_single']['p50']:.3f}",
                     f"{ex['matrix_bytes'] / 1e6:,.1f} MB",
                     f"{an['search_ms_single']['p50']:.3f}" if an else "", f"{an['top1_agreement']:.3f}" if an else "",
                     f"{an['build_s']:.1f} s" if an else ""])
    ann_params = next((r["ann"]["params"] for r in s["sizes"].values() if r.get("ann")), None)
    cold = s.get("cold_start")
    sweep_doc = ""
    sw = load("scale_100k_ef_sweep")
    if sw:
        n, big = next(iter(sw["sizes"].items()))
        sweep = big["ann"]["expansion_search_sweep"]
        srows = [[ef, f"{v['top1_agreement']:.3f}", f"{v['search_ms_single']['p50']:.2f}"] for ef, v in sweep.items()]
        sweep_doc = f"""
The ANN rows above were measured with `expansion_search=64`. At {int(n):,} adapters that finds the brute-force
top-1 adapter for only {big['ann']['top1_agreement']:.0%} of queries, so the shipped default is `expansion_search=512`, chosen from this sweep
(`python benchmarks/bench_scale.py --adapters {n} --ef-sweep {",".join(sweep)}`, `benchmarks/results/scale_100k_ef_sweep.json`; exact
search in the same run: {big['exact']['search_ms_single']['p50']:.1f} ms/query p50):

{table(["expansion_search", "top-1 agreement with brute force", "ANN ms/query p50"], srows)}

Brute force stays the default (`search="exact"`); ANN is worth it only from tens of thousands of adapters on.
"""
    return f"""## Scale

`python benchmarks/bench_scale.py` (`benchmarks/results/scale.json`): synthetic clustered unit centroids, {s['dimension']}-d,
{s['centroids_per_adapter']} per adapter, {next(iter(s['sizes'].values()))['queries']} queries; exact brute force (the default) vs the optional ANN index
(`search="ann"`, usearch HNSW, extra `ann`{f", expansion_search={ann_params['expansion_search']}" if ann_params else ""}); load average
{s['machine']['load_average_start'][0]:.1f} at start (a shared machine: single-query times of the middle sizes are noisy).

{table(["adapters", "centroids", "exact ms/query p50", "exact index memory", "ANN ms/query p50", "ANN top-1 agreement", "ANN build"], rows)}

Cold start (fresh process → first routed answer, warm caches): {f"**{cold['median_s']:.2f} s** (median of {len(cold['runs_s'])})" if cold else "n/a"}.
{sweep_doc}"""


def runs_of(v: dict[str, Any]) -> str:
    return ", ".join(f"{x['queries_per_s']:,.0f}" for x in v["batched"]["runs"])


def sec_routing() -> str | None:
    r = load("routing")
    if r is None:
        return None
    acc = r["accuracy"]
    cols = [k for k in ("bbh", "clinc150") if k in acc]
    names = list(acc[cols[0]]["strategies"])
    rows = []
    for name in names:
        cells = [pct(acc[c]["strategies"].get(name, {}).get("selection_accuracy"), 2) for c in cols]
        bold = "[default]" in name
        rows.append([f"**{name}**" if bold else name] + [f"**{x}**" if bold else x for x in cells])
    for name in acc[cols[0]]["reference"]:
        rows.append([f"trained {name} (reference)"] + [pct(acc[c]["reference"][name]["selection_accuracy"], 2) for c in cols])
    header = ["selection accuracy on dev"] + [f"{c.upper() if c == 'bbh' else 'CLINC150'} ({acc[c]['adapters']} adapters)" for c in cols]
    out = f"""## Routing accuracy

`python benchmarks/bench_routing.py` (`benchmarks/results/routing.json`; data `../shared/benchmarks`, dev splits,
in-scope rows; default embedder all-MiniLM-L6-v2).

{table(header, rows)}
"""
    ab = r.get("abstention_clinc150")
    if ab:
        arows = [[k, f"{v['threshold']:.3f}", pct(v["dev_selection_accuracy_no_threshold"], 2),
                  pct(v["dev_in_scope_accuracy_abstain_wrong"], 2), pct(v["dev_oos_rejection"], 2)] for k, v in ab.items()]
        out += f"""
CLINC150 abstention (threshold calibrated on a held-out 10 % of train + `train_oos`, reported on dev; abstaining
counts as wrong):

{table(["strategy, objective", "threshold", "in-scope, no threshold", "in-scope, with threshold", "out-of-scope rejected"], arows)}
"""
    sp = r.get("speed")
    if sp:
        by = sp["by_threads"]
        srows = [[k, f"{v['single_query_ms']['p50']:.1f} ms / {v['single_query_ms']['p95']:.1f} ms",
                  f"{v['batched']['queries_per_s']:,.0f} ({runs_of(v)})"]
                 for k, v in by.items()]
        cs = sp["centroid_search"]
        out += f"""
Speed (load average {sp['load_average_at_start']:.1f} at start):

{table(["embedder backend", "single `route()` p50 / p95 (embedding included)", f"`route_batch` of {next(iter(by.values()))['batched']['queries']} queries: queries/s, median (every run)"], srows)}

Centroid search alone: {" / ".join(f"{int(n):,}" for n in cs)} adapters: {" / ".join(f"{v['blas_threads_default']['search_ms_p50']:.3f}" for v in cs.values())} ms.
"""
    return out


def sec_embedder() -> str | None:
    e = load("embedder")
    if e is None:
        return None
    sizes = list(next(iter(e["variants"].values()))["queries_per_s_by_batch_size"])
    rows = []
    for name, v in e["variants"].items():
        q = v.get("queries_per_s_by_batch_size")
        cos = (f"{v['cosine_to_pytorch_mean']:.4f} / {v['cosine_to_pytorch_min']:.4f}"
               if v.get("cosine_to_pytorch_mean") is not None else "")
        p50 = f"{v['single_query_p50_ms']:.1f} ms" if v.get("single_query_p50_ms") is not None else ""
        qps = " / ".join(f"{q[b]:,.0f}" for b in sizes) if q else v.get("reason", "n/a")
        bold = "default" in name
        rows.append([f"**{name}**" if bold else name, cos, p50, qps])
    return f"""## Embedder

`python benchmarks/bench_embedder.py` (`benchmarks/results/embedder.json`): {e['queries']:,} CLINC150 dev queries
({e['mean_tokens_per_query']:.1f} tokens on average), {e['repeats']} interleaved repeats, medians.

{table(["embedder execution", "cosine to PyTorch (mean / min)", "single query p50", f"queries/s at batch {' / '.join(sizes)}"], rows)}

Batches are cut by token count (a CLINC batch of 32 is padded to {e['padded_tokens_per_query']['tokens']['32']:.1f} tokens per query, against
{e['padded_tokens_per_query']['chars']['32']:.1f} when sorted by characters) and run side by side, one single-threaded ONNX Runtime run per core.
int8 is measured, not used: it moves the embeddings, so it would be a different embedder from the index's.
{sec_st_onnx()}"""


def sec_st_onnx() -> str:
    full = load("embedder")
    if full is not None and full["sentence_transformers_onnx"]["available"] and not full.get("quick"):
        q, src, cmd = full, "benchmarks/results/embedder.json", "python benchmarks/bench_embedder.py --st-onnx-python VENV/bin/python"
        caveat = f"the full run: {q['queries']:,} queries, {q['repeats']} interleaved repeats, load average {q['load_average_before'][0]:.1f}"
    else:
        q = load("embedder_st_onnx_quick")
        if q is None or not q["sentence_transformers_onnx"]["available"]:
            return ""
        src, cmd = "benchmarks/results/embedder_st_onnx_quick.json", "python benchmarks/bench_embedder.py --quick --st-onnx-python VENV/bin/python"
        caveat = f"{q['queries']} queries, {q['repeats']} repeat, load average {q['load_average_before'][0]:.0f}: indicative only"
    v = q["variants"]
    ours = v["onnx fp32 (default)"]
    sts = {k: x for k, x in v.items() if k.startswith("sentence-transformers") and x.get("queries_per_s_by_batch_size")}
    sizes = list(ours["queries_per_s_by_batch_size"])
    best_st = {b: max(x["queries_per_s_by_batch_size"][b] for x in sts.values()) for b in sizes}
    ratios = " / ".join(f"{ours['queries_per_s_by_batch_size'][b] / best_st[b]:.2f}×" for b in sizes)
    fastest_single = min(sts.items(), key=lambda kv: kv[1]["single_query_p50_ms"])
    ver = q["sentence_transformers_onnx"]["versions"]
    cos_min = min(x["cosine_to_pytorch_min"] for x in sts.values())
    return f"""
**sentence-transformers' own ONNX backend** (`SentenceTransformer(path, backend="onnx")`, plain and its O2/O3 optimised
files), measured beside ours by `{cmd}` (`{src}`; {caveat}). It cannot be installed beside this package: it loads
through optimum-onnx, which pins transformers < 4.58 (here sentence-transformers {ver['sentence_transformers']}, transformers
{ver['transformers']}, in a separate venv). Same embeddings (cosine ≥ {cos_min:.4f}). Single query: ours {ours['single_query_p50_ms']:.1f} ms, its fastest
({fastest_single[0].removeprefix("sentence-transformers backend='onnx'").strip(", ") or "plain"}) {fastest_single[1]['single_query_p50_ms']:.1f} ms, so ours is {fastest_single[1]['single_query_p50_ms'] / ours['single_query_p50_ms']:.2f}× faster. On lists ours was {ratios}
its best variant's speed at batch {' / '.join(sizes)}: it sorts by characters and runs batches one after another on one
multi-threaded session (what the "char-sorted, one session" row measures), while ours tokenises once, sorts by token
count and runs single-threaded batches side by side; both fuse attention and LayerNorm (ours through ONNX Runtime's
transformer optimizer, kept only when the hidden states match within 1e-4). So the exporter stays.
"""


def sec_abstention() -> str | None:
    a = load("abstention")
    if a is None:
        return None
    c = a["config"]
    tgt = c["target"]
    rows = []
    whitened = ""
    w, g = a["variants"].get("whitened distance to centroids"), a["variants"].get("global score (today)")
    if w and g:
        wb, gb = w["points"]["balanced"]["dev"], g["points"]["balanced"]["dev"]
        whitened = (f"\nThe whitened distance to the router's own k-means clusters (Mahalanobis with one shared covariance, "
                    f"ridge {w['ridge']['chosen']:g} chosen on the calibration split) is the best training-free rule: at the "
                    f"balanced point it costs {wb['cost_points']:.2f} pts for {pct(wb['oos_rejection'], 0)} rejection (the global "
                    f"score: {gb['cost_points']:.2f} pts for {pct(gb['oos_rejection'], 0)}), and the best point of its dev curve "
                    f"is {w['dev_best_possible_cost_at_0.9']:.2f} pts; still above 2. It is measured here only: in the library "
                    f"it would need the cluster means and a {c['dimension']}×{c['dimension']} precision "
                    f"matrix stored in the index.")
    for name, v in a["variants"].items():
        pts = v["points"]
        t90, bal = pts["target_oos_rejection_0.9"], pts["balanced"]
        rows.append([name, f"{t90['dev']['cost_points']:.2f} pts / {pct(t90['dev']['oos_rejection'], 0)}",
                     f"{bal['dev']['cost_points']:.2f} pts / {pct(bal['dev']['oos_rejection'], 0)}",
                     f"{v['dev_best_possible_cost_at_0.9']:.2f} pts"])
    met = [r["variant"] for r in a["summary"] if r["meets_target"]]
    return f"""## Abstention: what it costs

`python benchmarks/bench_abstention.py` (`benchmarks/results/abstention.json`, `docs/images/abstention_curves.png`): CLINC150,
{c['adapters']} domains, index on {c['n_train_index']:,} train rows; every rule calibrated on train-side data only (the held-out
{c['n_held_out']:,} train rows + {c['n_train_oos']} `train_oos`), measured on dev ({c['n_dev_in_scope']:,} in-scope, {c['n_dev_oos']} out-of-scope queries). Cost =
points of in-scope accuracy lost (abstaining counts as wrong; {pct(a['dev_selection_accuracy'], 2)} without abstention). Target: ≤ {tgt['max_cost_points']:g} points
at ≥ {pct(tgt['oos_rejection'], 0)} out-of-scope rejection: {"met by " + ", ".join(met) if met else "**not met** by any rule at its train-calibrated point"}.

{table(["rule", f"calibrated for {pct(tgt['oos_rejection'], 0)} rejection: dev cost / rejection", "balanced objective: dev cost / rejection",
        f"best point on the dev curve at ≥ {pct(tgt['oos_rejection'], 0)} (not selectable)"], rows)}

A threshold that rejects 90 % of `train_oos` rejects only 84–89 % of dev's out-of-scope queries, and dev has 100 of them
(one query = one point), so differences of a point are noise. Per-adapter thresholds are in the library as an option
(`router.calibrate(..., method="per_adapter")`, stored in the index); the fitted logistic score is not training-free
and stays in the benchmark.{whitened}

![abstention curves](images/abstention_curves.png)
"""


def sec_recoup() -> str | None:
    r = load("recoup")
    if r is None or r.get("quick"):
        return None
    tr, ro, th = r["training"], r["routing"], r["threshold_on"]
    rows = [
        ["(a) base backbone, no adapter", pct(r["base"]), ""],
        ["(b) oracle: each query to its true domain's adapter", pct(r["oracle"]), "100 %"],
        ["**(c) routed, default strategy** (`AriadneLLM`, k-means centroids)", f"**{pct(r['routed'])}**", f"**{pct(r['recoup'])}**"],
        ["(d) routed, the paper's recipe (`strategy=\"paper\"`)", pct(r["routed_paper"]), pct(r["recoup_paper"])],
        ["(e) a random adapter", pct(r["random"]), pct(r["random"] / r["oracle"]) if r["oracle"] else "n/a"],
    ]
    per = [[t, pct(v.get("base")), pct(v.get("oracle")), pct(v.get("routed")), pct(v.get("routed_paper"))]
           for t, v in r["per_task"].items()]
    so = r.get("second_opinion")
    second = ""
    if so:
        cuts = [[cut, f"{v['rows_verified']:,}", pct(v["score"]), pct(v["recoup"]), str(v["switched_to_true_adapter"]),
                 str(v["switched_away_from_true_adapter"])] for cut, v in so["by_adapter_logprob"].items()]
        clf = ""
        peers = (load("routing") or {}).get("peers", {}).get("columns", {}).get("clinc150 domains", {}).get("methods", {})
        if "trained logreg C=10" in peers and "kmeans k=ceil(sqrt n) [default]" in peers:
            clf = (f" Nor would a trained router: on all of CLINC150's domains a logistic regression trained on the same vectors "
                   f"selects {pct(peers['trained logreg C=10']['selection_accuracy'], 2)}, below the default's "
                   f"{pct(peers['kmeans k=ceil(sqrt n) [default]']['selection_accuracy'], 2)} ([peers](#routing-side-by-side-with-the-peers)).")
        second = f"""
**Why not {pct(r['target_recoup'], 0)}: the gap is the misrouted queries, and the adapters cannot find them either.** The true
adapter is among the router's two best for {pct(so['true_adapter_in_top2'])} of these queries, so a judge that always picked the
right one of the two answers would reach {pct(so['best_of_top2'])} (recoup {pct(so['best_of_top2_recoup'])}). Asking the adapters
themselves (both answers generated, each scored by its own adapter with `AdapterRuntime.score_completions`, mean
log-probability per token; the surer one kept) does not get there: an adapter trained on another domain is just as sure of
its own intent names, so it switches away from the true adapter more often than towards it.{clf}

{table(["rows asked", "rows", "exact match", "recoup", "switches to the true adapter", "switches away from it"], cuts)}
"""
    return f"""## Task quality recovered (recoup)

`python benchmarks/{r['command']}` (`benchmarks/results/recoup.json`): one LoRA adapter per CLINC150 domain
({len(r['tasks'])} adapters, {tr['settings']['train_per_task']} training utterances each, target = the intent name, trained on SmolLM2-135M-Instruct by
`train_lora`: {tr['settings']['epochs']:g} epoch{'' if tr['settings']['epochs'] == 1 else 's'}, lr {tr['settings']['lr']:g}, r {tr['settings']['r']}; {tr['seconds_total'] / 60:.0f} min of training on this CPU, cached);
{r['n']:,} in-scope dev queries{" (a seeded, domain-balanced subsample of " + format(r['n_dev_in_scope_total'], ',') + ")" if r['subsampled'] else ""}; {r['metric']}.
Recoup = routed ÷ oracle (the ARIADNE paper reports 97.44 %); target ≥ {pct(r['target_recoup'], 0)}: {"**met**" if r['target_met'] else "**not met**"}.

{table(["setting", "exact match", "recoup (÷ oracle)"], rows)}

Routing accuracy on these queries: default {pct(ro['kmeans']['accuracy'], 2)} ({ro['kmeans']['misrouted']} misrouted; the oracle answered
{ro['kmeans']['misrouted_oracle_right']} of them right, the routed adapter still {ro['kmeans']['misrouted_routed_right']}), paper recipe {pct(ro['paper']['accuracy'], 2)}.

With the threshold calibrated on held-out train rows + `train_oos` ({th['threshold']:.3f}): {pct(th['oos_to_base'])} of the {th['n_oos_dev']} out-of-scope
dev queries go to the bare backbone; {th['in_scope_abstained']} in-scope queries abstain, and in-scope recoup becomes {pct(th['recoup'])}.

{second}
{table(["domain", "base", "oracle", "routed", "routed (paper)"], per)}
"""


SECTIONS: list[Callable[[], str | None]] = [
    sec_recoup, sec_routing, sec_peers, sec_abstention, sec_scale, sec_embedder, sec_generation, sec_demo_pool, sec_langchain, sec_structured, sec_llamaindex, sec_engine,
]

HEADER = """# Benchmarks

Generated by `python scripts/render_results.py` from `benchmarks/results/*.json`; do not edit by hand (the test
suite checks that this file matches the JSON). Each section names the command that wrote its JSON. All figures were
measured on 2-core CPU machines without GPU (AMD EPYC; the machine differs between sessions); results files record
the load average. Compare ratios inside one table, not absolute times across tables.
"""


def render_doc() -> str:
    parts = [HEADER] + [p for p in (f() for f in SECTIONS) if p]
    return "\n".join(p.rstrip() + "\n" for p in parts)


def render_summary() -> str:
    rows: list[list[str]] = []
    rc = load("recoup")
    if rc and not rc.get("quick"):
        rows.append([f"**task quality recovered by routing** (CLINC150, {len(rc['tasks'])} domain adapters): routed ÷ oracle",
                     f"**{pct(rc['recoup'])}** (paper recipe {pct(rc['recoup_paper'])})", "[recoup](docs/BENCHMARKS.md#task-quality-recovered-recoup)"])
    g, lc, e = load("generation"), load("langchain"), load("engine")
    r, sc, ad = load("routing"), load("scale"), load("abstention_demo")
    st, li = load("structured"), load("llamaindex")
    if r:
        acc = r["accuracy"]
        for c in ("bbh", "clinc150"):
            a = acc.get(c)
            if not a:
                continue
            strat = a["strategies"]
            default = next(v for k, v in strat.items() if "[default]" in k)["selection_accuracy"]
            paper = next(v for k, v in strat.items() if k.startswith("paper"))["selection_accuracy"]
            ref = max(v["selection_accuracy"] for v in a["reference"].values())
            rows.append([f"routing accuracy, {'BBH' if c == 'bbh' else 'CLINC150'} dev ({a['adapters']} adapters): default / paper recipe / "
                         "trained logistic regression", f"**{pct(default, 2)}** / {pct(paper, 2)} / {pct(ref, 2)}",
                         "[routing](docs/BENCHMARKS.md#routing-accuracy)"])
        peers = r.get("peers")
        if peers and not r.get("quick"):
            link = "[peers](docs/BENCHMARKS.md#routing-side-by-side-with-the-peers)"
            for c, v in peers["columns"].items():
                if c in ("clinc150 intents", "bbh + clinc150 domains"):
                    m = v["methods"]
                    default = next(x for k, x in m.items() if "[default]" in k)["selection_accuracy"]
                    sr = next(x for k, x in m.items() if k.startswith("semantic-router"))["selection_accuracy"]
                    rows.append([f"routing accuracy, {c} ({v['adapters']} adapters): default / semantic-router",
                                 f"**{pct(default, 2)}** / {pct(sr, 2)}", link])
            sp = peers["speed"]
            rows.append(["single-query routing vs semantic-router, same queries (CLINC150 / BBH)",
                         " / ".join(f"{sp[c]['speedup_p50']:.3f}× faster" for c in ("clinc150 domains", "bbh") if c in sp), link])
        best = r["speed"]["targets"]
        rows.append(["single `route()` p50 / `route_batch` throughput (CPU, embedding included)",
                     f"{best['best_p50_ms']:.1f} ms / {best['best_queries_per_s']:,.0f} queries/s", "[routing](docs/BENCHMARKS.md#routing-accuracy)"])
    em = load("embedder")
    if em and em["sentence_transformers_onnx"]["available"] and not em.get("quick"):
        ours = em["variants"]["onnx fp32 (default)"]
        sts = [x for k, x in em["variants"].items() if k.startswith("sentence-transformers") and x.get("queries_per_s_by_batch_size")]
        st_single = min(x["single_query_p50_ms"] for x in sts)
        st_32 = max(x["queries_per_s_by_batch_size"]["32"] for x in sts)
        rows.append(["embedder: ours vs sentence-transformers' own ONNX backend (its fastest variant): single query / batch 32",
                     f"{st_single / ours['single_query_p50_ms']:.2f}× / {ours['queries_per_s_by_batch_size']['32'] / st_32:.2f}× faster",
                     "[embedder](docs/BENCHMARKS.md#embedder)"])
    sw = load("scale_100k_ef_sweep")
    if sw:
        n, big = next(iter(sw["sizes"].items()))
        ef = max(big["ann"]["expansion_search_sweep"], key=int)
        an = big["ann"]["expansion_search_sweep"][ef]
        rows.append([f"centroid search at {int(n):,} adapters: exact / ANN, default expansion_search={ef} (top-1 agreement)",
                     f"{big['exact']['search_ms_single']['p50']:.1f} ms / {an['search_ms_single']['p50']:.1f} ms ({an['top1_agreement']:.2f})",
                     "[scale](docs/BENCHMARKS.md#scale)"])
    if sc and sc.get("cold_start"):
        rows.append(["cold start: fresh process to its first routed answer (warm caches)", f"{sc['cold_start']['median_s']:.2f} s",
                     "[scale](docs/BENCHMARKS.md#scale)"])
    ab = load("abstention")
    if ab:
        bal = ab["variants"][next(iter(ab["variants"]))]["points"]["balanced"]["dev"]
        rows.append(["CLINC150 abstention (balanced threshold): out-of-scope rejected / in-scope cost",
                     f"{pct(bal['oos_rejection'], 0)} / {bal['cost_points']:.2f} points", "[abstention](docs/BENCHMARKS.md#abstention-what-it-costs)"])
    if ad:
        rows.append(["demo index: general questions answered by the bare backbone / task queries kept",
                     f"{pct(ad['general_answered_by_base'])} / {pct(ad['held_out_routed_to_their_adapter'])}",
                     "[demo pool](docs/BENCHMARKS.md#demo-pool)"])
    if g:
        link = "[runtime](docs/BENCHMARKS.md#runtime-mixed-adapter-batches-and-decode-speed)"
        rows.append(["mixed-adapter batch vs one call per prompt (16 prompts, 4 adapters)",
                     f"{g['speedup_mixed_vs_one_by_one']:.2f}× faster", link])
        if "step_vs_memory_floor" in g:
            rows.append(["decoding step of that batch vs its matrix products alone (floor)",
                         f"{g['step_vs_memory_floor']:.2f}× the floor", link])
            if g.get("engine"):
                rows.append(["single stream, tokens/s: in process (float32) / llama.cpp server (Q4_1)",
                             f"{g['single_stream_tokens_per_s']['fast_base']:.1f} / {g['engine']['tokens_per_s']:.1f}", link])
    rg = load("route_then_generate")
    if rg:
        rows.append(["route, then generate in one process: time to the first token without / with ONNX threads spinning",
                     f"{rg['median_ms']['no_spin']['generate']:.0f} / {rg['median_ms']['spin']['generate']:.0f} ms (spinning off by default there)",
                     "[runtime](docs/BENCHMARKS.md#runtime-mixed-adapter-batches-and-decode-speed)"])
    if lc:
        runs = lc["settings"][0]["runs"]
        rows.append(["16 concurrent `ainvoke` / threads / LangGraph `Send` vs one `batch`",
                     " / ".join(f"{runs[k]['speed_vs_batch']:.2f}×" for k in ("b_async_gather", "c_threads", "d_langgraph_send")),
                     "[LangChain](docs/BENCHMARKS.md#langchain-concurrent-calls-coalesced)"])
    if st:
        rows.append(["structured output: answers that parse / cost per decoding step",
                     f"{st['constrained_answers_parse']} / {st['constrained_vs_free_ms_per_step']:.2f}×",
                     "[structured output](docs/BENCHMARKS.md#structured-output)"])
    if li:
        res = li["results"]
        ours = next(v for k, v in res.items() if k.startswith("AriadneSelector"))
        theirs = next(v for k, v in res.items() if k.startswith("EmbeddingSingleSelector"))
        rows.append(["LlamaIndex: `AriadneSelector` vs `EmbeddingSingleSelector` (CLINC150 domains)",
                     f"{pct(ours['accuracy'])} vs {pct(theirs['accuracy'])}", "[LlamaIndex](docs/BENCHMARKS.md#llamaindex-selectors)"])
    if e:
        rows.append(["in-process mixed batch vs llama.cpp server (16 concurrent requests)",
                     f"{e['ratio_in_process_vs_server_concurrent']:.1f}× faster", "[engine](docs/BENCHMARKS.md#llamacpp-server-vs-in-process)"])
    return (f"{BEGIN}\n## Results\n\nGenerated from `benchmarks/results/*.json` by `python scripts/render_results.py`; every table, "
            f"with the command that produced it, is in [docs/BENCHMARKS.md](docs/BENCHMARKS.md).\n\n"
            + table(["what", "measured", "details"], rows, "lrl") + f"\n{END}")


def splice_readme(text: str, block: str) -> str:
    if BEGIN not in text or END not in text:
        raise SystemExit(f"README.md has no {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + block + tail


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check that the files are up to date")
    args = ap.parse_args(argv)
    doc = render_doc()
    readme = splice_readme(README.read_text(encoding="utf-8"), render_summary())
    stale = [p.name for p, new in ((DOC, doc), (README, readme)) if not p.is_file() or p.read_text(encoding="utf-8") != new]
    if args.check:
        if stale:
            print(f"out of date: {', '.join(stale)}; run python scripts/render_results.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(doc, encoding="utf-8")
    README.write_text(readme, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)} and README.md's results block")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
