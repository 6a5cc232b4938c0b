"""Write the tutorial notebooks (notebooks/*.ipynb) from the cells below and execute them in place.

    python scripts/make_notebooks.py [--only 01] [--no-execute]

The committed outputs are the ones this real run produced; CI re-executes every notebook
(tests/test_notebooks.py), and each notebook ends with assertion cells, so a broken tutorial fails.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"


def md(text: str):
    return nbformat.v4.new_markdown_cell(text.strip())


def code(text: str):
    return nbformat.v4.new_code_cell(text.strip())


SETUP = code("""
import logging, os, warnings
os.environ.setdefault("HF_HUB_OFFLINE", "1")          # nothing is downloaded: the defaults ship as packages
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
warnings.filterwarnings("ignore")
logging.getLogger("transformers").setLevel(logging.ERROR)
""")

QUICKSTART = [
    md("""
# 1 · Quickstart: route queries to adapters, then answer them in a LangChain chain

ARIADNE picks, for every query, the LoRA adapter whose training inputs look most like it: each adapter is
a few centroids of its training inputs' embeddings, and a query goes to the adapter with the most similar
centroid. No router is trained. This notebook uses the **demo pool** that ships with the package
(SmolLM2-135M-Instruct + four LoRA adapters + their routing index), so it runs offline on a laptop CPU.
"""),
    SETUP,
    code("""
from ariadne_integrations import AriadneRouter
from ariadne_integrations.demo import demo_index_path, demo_scores

router = AriadneRouter.load(demo_index_path())
print("adapters:", router.adapters)
for task, s in demo_scores()["tasks"].items():
    print(f"{task:>15}: base model {s['base_exact_match']:.0%} exact match -> adapter {s['adapter_exact_match']:.0%}")
"""),
    md("## Route a few queries\nEach decision carries the chosen adapter, its cosine score and its margin over the runner-up."),
    code("""
queries = [
    "Classify the sentiment: The headphones are fantastic, best purchase this year. 5/5.",
    "Translate to SQL: list the products in the garden category",
    "What is the date in ISO format? Our flight leaves on March 3rd, 2024.",
    "Hi, I forgot my password and cannot log in.",
]
decisions = router.route_batch(queries)          # one embedding pass for the whole list
for q, d in zip(queries, decisions):
    print(f"{d.adapter:>15}  score={d.score:.3f}  margin={d.margin:.3f}  | {q}")
"""),
    md("## `AriadneLLM` in an LCEL chain\n`AriadneLLM` is a LangChain `BaseLLM`: a batch is routed in one pass and generated in **one** mixed-adapter forward pass."),
    code("""
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from ariadne_integrations.langchain import AriadneLLM

llm = AriadneLLM.from_index(demo_index_path(), max_new_tokens=24)
chain = PromptTemplate.from_template("{query}") | llm | StrOutputParser()
print(chain.invoke({"query": queries[0]}))
"""),
    code("""
answers = chain.batch([{"query": q} for q in queries])
for q, a in zip(queries, answers):
    print(f"{q[:60]:<60} -> {a}")
"""),
    md("## Which adapter answered? The routing decision travels in `generation_info`"),
    code("""
result = llm.generate(queries)
rows = []
for q, gens in zip(queries, result.generations):
    info = gens[0].generation_info
    rows.append((info["adapter"], info["score"], gens[0].text))
    print(f"{info['adapter']:>15}  {info['score']:.3f}  {gens[0].text}")
"""),
    md("## Streaming"),
    code("""
streamed = ""
for piece in chain.stream({"query": queries[2]}):
    streamed += piece
    print(piece, end="", flush=True)
print()
"""),
    md("""
## Structured output: a routed extraction into a pydantic model
A 135M model does not reliably write JSON on its own. `with_structured_output` constrains decoding to the
schema's grammar (xgrammar, the `structured` extra), row by row inside the same routed, mixed-adapter batch,
so every answer parses; an answer the token limit would cut raises `StructuredOutputError` instead. Fields an
adapter was trained to answer (a label, a number) come out best; give free-text fields a `max_length`.
"""),
    code("""
from typing import Literal
from pydantic import BaseModel, Field
from ariadne_integrations.langchain import ChatAriadne

class Review(BaseModel):
    \"\"\"A product review: its sentiment and its star rating.\"\"\"
    sentiment: Literal["positive", "negative"]
    stars: int = Field(ge=1, le=5)

chat = ChatAriadne.from_index(demo_index_path(), max_tokens=32)
extract = chat.with_structured_output(Review, include_raw=True)
reviews = [
    "Classify the sentiment: What a horrible backpack! It was a waste of money. 2/5.",
    "Customer review: I adore this cartoon. My whole family enjoyed it. 5/5.",
]
extracted = extract.batch(reviews)                # one routed, mixed-adapter generate for the list
for r in extracted:
    print(f"{r['raw'].response_metadata['adapter']:>10}  {r['parsed']!r}  <- {r['raw'].content}")
"""),
    md("A forced tool call uses the same mechanism: the answer is decoded under the tool's argument schema."),
    code("""
from langchain_core.tools import tool

@tool
def add(a: int, b: int) -> int:
    \"\"\"Add two integers.\"\"\"
    return a + b

call = chat.bind_tools([add], tool_choice="add").invoke("What is 3 plus 4?")
print(call.tool_calls)
"""),
    md("## Checks (CI runs this notebook; these cells fail if the tutorial breaks)"),
    code("""
assert [d.adapter for d in decisions] == ["sentiment", "sql", "date_iso", "support_intent"]
assert [r[0] for r in rows] == [d.adapter for d in decisions]
assert answers[0].strip().lower() == "positive", answers[0]
assert answers[2].strip() == "2024-03-03", answers[2]
assert streamed.strip() == answers[2].strip()
assert all(r["parsing_error"] is None and isinstance(r["parsed"], Review) for r in extracted)
assert [r["parsed"].sentiment for r in extracted] == ["negative", "positive"]
assert [r["raw"].response_metadata["adapter"] for r in extracted] == ["sentiment", "sentiment"]
assert call.tool_calls[0]["name"] == "add" and set(call.tool_calls[0]["args"]) == {"a", "b"}
print("all checks passed")
"""),
]

OWN_ADAPTERS = [
    md("""
# 2 · Your own adapters: train, index, and add one to a running router

Bring one JSONL file per task with `input` and `target` fields. `ariadne train` fits a LoRA adapter on the
CPU and scores it on held-out rows before and after; the adapter folder also keeps its training inputs,
so `ariadne index build --adapter DIR` indexes exactly what the adapter learned from.

To keep this notebook quick, the "own" data are small slices of the packaged demo tasks and training is
capped at a few steps; with your data, drop `--max-steps`.
"""),
    SETUP,
    code("""
import json, subprocess, sys, tempfile
from pathlib import Path
from ariadne_integrations.demo import demo_data_path

work = Path(tempfile.mkdtemp(prefix="ariadne-nb2-"))
def write_task(task, n_train=64, n_test=12):
    rows = [json.loads(l) for l in open(demo_data_path(task, "train"))][:n_train]
    test = [json.loads(l) for l in open(demo_data_path(task, "test"))][:n_test]
    for name, part in (("train", rows), ("test", test)):
        with open(work / f"{task}.{name}.jsonl", "w") as fh:
            fh.writelines(json.dumps({"input": r["input"], "target": r["target"]}) + "\\n" for r in part)
for t in ("sentiment", "sql", "support_intent"):
    write_task(t)
print(sorted(p.name for p in work.iterdir()))
print(open(work / "sql.train.jsonl").readline())
"""),
    md("## Train two adapters with the CLI"),
    code("""
def ariadne(*args):
    out = subprocess.run([sys.executable, "-m", "ariadne_integrations.cli", *map(str, args)],
                         capture_output=True, text=True)
    print(out.stdout.strip() or out.stderr.strip()[-2000:])
    assert out.returncode == 0

for task in ("sentiment", "sql"):
    ariadne("train", "--data", work / f"{task}.train.jsonl", "--eval-data", work / f"{task}.test.jsonl",
            "--out", work / "adapters" / task, "--task", task, "--max-steps", 16, "--batch-size", 8)
"""),
    code("""
for task in ("sentiment", "sql"):
    meta = json.loads((work / "adapters" / task / "ariadne_task.json").read_text())
    print(f"{task}: exact match {meta['score_before']:.0%} (base) -> {meta['score_after']:.0%} (adapter), "
          f"{meta['n_train']} training inputs")
"""),
    md("## Build a routing index from the adapter folders"),
    code("""
ariadne("index", "build", "--adapter", work / "adapters" / "sentiment", "--adapter", work / "adapters" / "sql",
        "--out", work / "index")
ariadne("route", "--index", work / "index", "Translate to SQL: show products with a price below 20",
        "Classify the sentiment: awful, it broke after a day.")
"""),
    md("## Add a third adapter to a running router, without touching the others\nAdding an adapter embeds its inputs and computes *its* centroids only."),
    code("""
import numpy as np
from ariadne_integrations import AriadneRouter
from ariadne_integrations.routing.data import read_jsonl

router = AriadneRouter.load(work / "index")
before = {name: router.centroids(name).copy() for name in router.adapters}
support_inputs = [x for x, _ in read_jsonl(work / "support_intent.train.jsonl", "input", "target")]
router.add_adapter("support_intent", support_inputs)
print(router.adapters)
d = router.route("Where is my parcel? Order #12345 has not arrived.")
print(d.adapter, round(d.score, 3), "runner-up:", d.runner_up)
"""),
    md("## Checks"),
    code("""
for name, c in before.items():
    assert np.array_equal(router.centroids(name), c), name   # untouched
assert d.adapter == "support_intent"
for task in ("sentiment", "sql"):
    meta = json.loads((work / "adapters" / task / "ariadne_task.json").read_text())
    assert meta["score_after"] > meta["score_before"], (task, meta)
print("all checks passed")
"""),
]

LLAMAINDEX = [
    md("""
# 3 · LlamaIndex: `AriadneSelector` in a `RouterQueryEngine`

LlamaIndex's own `EmbeddingSingleSelector` compares a query with one *description* per tool, re-embedding
descriptions on every call. `AriadneSelector` compares it with centroids of example queries per tool,
embedded once. Tools with no examples fall back to their description, so they still compete.
"""),
    SETUP,
    code("""
from llama_index.core import Document, SummaryIndex, VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RouterQueryEngine
from llama_index.core.tools import QueryEngineTool
from ariadne_integrations.llama_index import AriadneEmbedding, AriadneSelector

docs = {
    "billing_docs": ["Refunds for duplicate charges are issued within 5 business days.",
                     "Invoices are emailed on the first day of each month."],
    "product_docs": ["To export a report, open Reports, choose Export and pick CSV or PDF.",
                     "Dashboards can be shared with teammates from the Share menu."],
    "travel_policy": ["Economy class is required for flights under six hours.",
                      "Hotel stays are reimbursed up to 150 euros per night."],
}
embed = AriadneEmbedding()            # the offline MiniLM, as a LlamaIndex embedding
llm = MockLLM(max_tokens=16)          # explicit: never fall back to Settings.llm (OpenAI)
indices = {
    "billing_docs": VectorStoreIndex.from_documents([Document(text=t) for t in docs["billing_docs"]], embed_model=embed),
    "product_docs": VectorStoreIndex.from_documents([Document(text=t) for t in docs["product_docs"]], embed_model=embed),
    "travel_policy": SummaryIndex.from_documents([Document(text=t) for t in docs["travel_policy"]]),
}
tools = [QueryEngineTool.from_defaults(query_engine=idx.as_query_engine(llm=llm), name=name,
                                       description=f"Documents about {name.replace('_', ' ')}")
         for name, idx in indices.items()]
"""),
    code("""
selector = AriadneSelector.from_examples({
    "billing_docs": ["why was I charged twice", "where is my invoice", "I want a refund for my subscription",
                     "my card was billed the wrong amount"],
    "product_docs": ["how do I export a report", "can I share a dashboard", "how to add a chart to my dashboard",
                     "where is the settings page"],
    "travel_policy": ["can I fly business class", "what hotel price is allowed", "are taxis reimbursed on trips",
                      "how do I book a work trip"],
})
engine = RouterQueryEngine(selector=selector, query_engine_tools=tools, llm=llm)
held_out = [("I was billed twice this month", "billing_docs"),
            ("how can I download my report as a PDF", "product_docs"),
            ("is a 200 euro hotel night ok on a business trip", "travel_policy")]
chosen = []
for q, want in held_out:
    resp = engine.query(q)
    sel = resp.metadata["selector_result"]
    chosen.append(tools[sel.ind].metadata.name)
    print(f"{q:<50} -> {chosen[-1]:<14} ({sel.reason})")
"""),
    md("## Checks"),
    code("""
assert chosen == [w for _, w in held_out]
print("all checks passed")
"""),
]

EVALUATION = [
    md("""
# 4 · Evaluating routing: accuracy, confusion, score distributions, and an abstention threshold

On CLINC150 (10 domains as adapters, 150 intents spread over them), read from `../../shared/benchmarks/clinc150`
(the notebook stops with an error when that folder is missing: the demo data has no out-of-scope queries, so the
abstention checks below could not run). Queries that belong to no adapter (CLINC's out-of-scope rows) should be
*abstained on*: the backbone alone answers them. We choose the threshold from a plot, on held-out data, not on the test rows.
"""),
    SETUP,
    code("""
from pathlib import Path
from ariadne_integrations import AriadneRouter, evaluate_router, read_jsonl

bench = Path("../../shared/benchmarks/clinc150").resolve()
train, dev, oos_train = bench / "train.jsonl", bench / "dev.jsonl", bench / "train_oos.jsonl"
missing = [p.name for p in (train, dev, oos_train) if not p.is_file()]
if missing:  # no silent fallback: without out-of-scope rows the abstention checks would not run
    raise FileNotFoundError(f"CLINC150 benchmark data missing in {bench}: {', '.join(missing)}; "
                            "this notebook needs ../../shared/benchmarks (see its README)")
print("data:", train.parent)
rows = read_jsonl(train)
calib = rows[::10]                                   # a held-out slice of train for calibration
fit = [r for i, r in enumerate(rows) if i % 10]
examples = {}
for text, label in fit:
    examples.setdefault(label, []).append(text)
router = AriadneRouter.from_examples(examples)       # default: k-means centroids, k from the data
dev_rows = read_jsonl(dev)
report = evaluate_router(router, [t for t, _ in dev_rows], [l for _, l in dev_rows])
print(f"selection accuracy {report.selection_accuracy:.1%} on {report.n} rows")
for task, r in report.per_task.items():
    print(f"  {task:>14}: {r['accuracy']:.1%} ({r['n']})")
"""),
    code("""
from ariadne_integrations.routing.plots import plot_confusion, plot_score_distributions
plot_confusion(report);
"""),
    code("""
plot_score_distributions(report);   # green: routed right, orange: routed wrong, red: out of scope
"""),
    md("## Choosing the abstention threshold\nEach point of the curve is a threshold: in-scope accuracy (abstaining counts as wrong) against the share of out-of-scope queries rejected."),
    code("""
from ariadne_integrations.routing.plots import plot_abstention_curve
oos = [t for t, _ in read_jsonl(oos_train)]
cal = router.calibrate([t for t, _ in calib], [l for _, l in calib], oos)
print({k: v for k, v in cal.items() if k != "curve"})
plot_abstention_curve(cal["curve"]);
"""),
    code("""
after = evaluate_router(router, [t for t, _ in dev_rows], [l for _, l in dev_rows])
print(f"threshold {router.threshold:.3f}: in-scope accuracy {after.in_scope_accuracy:.1%}")
print(f"out-of-scope rows abstained on: {after.abstain['oos_abstained']:.0%} of {after.abstain['n']}")
"""),
    md("## Checks"),
    code("""
assert report.selection_accuracy > 0.9, report.selection_accuracy
assert after.abstain is not None and after.abstain["n"] >= 50, "the abstention checks need the out-of-scope dev rows"
assert after.abstain["oos_abstained"] > 0.5 and after.in_scope_accuracy > 0.85, (after.abstain, after.in_scope_accuracy)
print("all checks passed")
"""),
]

AGENTS = [
    md("""
# 5 · Agents: fan sub-queries out with LangGraph, answer them in one mixed-adapter batch

An agent splits a compound request into sub-queries and answers them in parallel: LangGraph's `Send`,
`RunnableParallel`, `asyncio.gather`. Each sub-query arrives as its **own** call. `ChatAriadne` coalesces
calls that arrive together (a 20 ms window, `coalesce_window_ms`) into **one** routed, mixed-adapter
`generate`, so the fan-out costs about what one `batch` costs. A sub-question no adapter covers
(general knowledge) is sent to the bare backbone: the demo index carries a calibrated threshold.
"""),
    SETUP,
    code("""
import asyncio, operator, time
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from ariadne_integrations.demo import demo_index_path
from ariadne_integrations.langchain import ChatAriadne

chat = ChatAriadne.from_index(demo_index_path(), max_new_tokens=24)
request = [
    "Classify the sentiment: the blender broke after two days, a total waste of money",
    "Translate to SQL: list the products in the kitchen category",
    "Convert the date to ISO format: The invoice is due on March 3, 2025",
    "Customer message: I was charged twice for order #48213, I want my money back",
    "What is the capital of France?",  # general knowledge: no adapter should take it
]
"""),
    md("## The graph: one `Send` per sub-query\nEach branch calls `chat.ainvoke` on its own; the answers come back with the routing metadata."),
    code("""
class Plan(TypedDict):
    queries: list[str]
    answers: Annotated[list, operator.add]


class Sub(TypedDict):
    i: int
    q: str


async def answer(sub: Sub) -> dict:
    msg = await chat.ainvoke(sub["q"])
    return {"answers": [(sub["i"], msg.content, msg.response_metadata["adapter"], msg.response_metadata["abstained"])]}


graph = StateGraph(Plan)
graph.add_node("answer", answer)
graph.add_conditional_edges(START, lambda s: [Send("answer", {"i": i, "q": q}) for i, q in enumerate(s["queries"])], ["answer"])
graph.add_edge("answer", END)
app = graph.compile()

await app.ainvoke({"queries": request, "answers": []})  # warm-up: loads the backbone and the adapters
t0 = time.perf_counter()
state = await app.ainvoke({"queries": request, "answers": []})
fan_out_s = time.perf_counter() - t0
for i, text, adapter, abstained in sorted(state["answers"]):
    print(f"{adapter or '(bare backbone)':>15}  {request[i][:55]:<55} -> {text[:60]!r}")
"""),
    md("## Coalesced: the fan-out costs what one batch costs\nThe same five sub-queries as one `batch`, and one at a time in a loop:"),
    code("""
t0 = time.perf_counter(); batched = chat.batch(request); batch_s = time.perf_counter() - t0
t0 = time.perf_counter(); looped = [chat.invoke(q) for q in request]; loop_s = time.perf_counter() - t0
print(f"LangGraph Send fan-out {fan_out_s:.1f} s | one batch {batch_s:.1f} s | sequential loop {loop_s:.1f} s")
print(f"the loop takes {loop_s / fan_out_s:.1f}x the fan-out's time; the fan-out takes {fan_out_s / batch_s:.2f}x one batch's")
"""),
    md("""
## A structured step: the support sub-query becomes a ticket
Downstream nodes want fields, not prose. `with_structured_output` decodes under the pydantic model's JSON
schema (grammar-constrained, the `structured` extra), still routed (the message goes to `support_intent`) and
still coalesced, so the ticket always parses.
"""),
    code("""
from typing import Literal
from pydantic import BaseModel

class Ticket(BaseModel):
    intent: Literal["refund", "cancel_subscription", "shipping_status", "password_reset", "update_address"]

triage = chat.with_structured_output(Ticket, include_raw=True)
ticket = await triage.ainvoke(request[3])
print(ticket["parsed"], "<- adapter", ticket["raw"].response_metadata["adapter"], "| raw:", ticket["raw"].content)
"""),
    md("## An out-of-scope sub-question goes to the base model, and the metadata says so"),
    code("""
general = chat.invoke("What is the capital of France?")
print(general.content)
print({k: general.response_metadata[k] for k in ("adapter", "abstained", "best", "score", "model_name")})
"""),
    code("""
# checks
by_index = {i: (text, adapter, abstained) for i, text, adapter, abstained in state["answers"]}
assert [by_index[i][1] for i in range(4)] == ["sentiment", "sql", "date_iso", "support_intent"]
assert by_index[4][1] is None and by_index[4][2] is True            # general question -> bare backbone
assert by_index[0][0].strip() == "negative" and by_index[3][0].strip() == "refund"
assert [m.content for m in batched] == [by_index[i][0] for i in range(5)]   # same answers as one batch
assert [m.content for m in looped] == [by_index[i][0] for i in range(5)]
assert general.response_metadata["adapter"] is None and general.response_metadata["abstained"]
assert ticket["parsing_error"] is None and ticket["parsed"].intent == "refund", ticket
assert ticket["raw"].response_metadata["adapter"] == "support_intent"
print("all checks passed")
"""),
]


NOTEBOOKS = {
    "01_quickstart.ipynb": QUICKSTART,
    "02_your_own_adapters.ipynb": OWN_ADAPTERS,
    "03_llamaindex_selector.ipynb": LLAMAINDEX,
    "04_evaluating_routing.ipynb": EVALUATION,
    "05_agents.ipynb": AGENTS,
}


def build(name: str, execute: bool) -> None:
    nb = nbformat.v4.new_notebook(cells=NOTEBOOKS[name])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if execute:
        t = time.perf_counter()
        NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(NB_DIR)}}).execute()
        print(f"{name}: executed in {time.perf_counter() - t:.0f} s")
    nbformat.write(nb, NB_DIR / name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", help="prefix of the notebooks to build (e.g. 01)")
    ap.add_argument("--no-execute", action="store_true")
    args = ap.parse_args()
    NB_DIR.mkdir(exist_ok=True)
    for name in NOTEBOOKS:
        if args.only and not any(name.startswith(p) for p in args.only):
            continue
        build(name, not args.no_execute)


if __name__ == "__main__":
    sys.exit(main())
