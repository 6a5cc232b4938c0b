"""Write the tutorial notebooks (notebooks/*.ipynb) from the cells below and execute them in place.

    python scripts/make_notebooks.py [--only 01] [--no-execute]

The committed outputs are the ones this real run produced; CI re-executes every notebook
(tests/test_notebooks.py), and each notebook ends with assertion cells, so a broken tutorial fails.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
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
# Set-up: run offline (the models ship as packages), one tokenizer process, and no tqdm "IProgress not found" notice.
import os, warnings
for key, value in {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ.setdefault(key, value)
warnings.filterwarnings("ignore", message="IProgress not found", module="tqdm")
""")

QUICKSTART = [
    md("""
# 1 · Quickstart: route queries to adapters, then answer them with LangChain

ARIADNE picks, for every query, the LoRA adapter whose training inputs look most like it: each adapter is
a few centroids of its training inputs' embeddings, and a query goes to the adapter with the most similar
centroid. No router is trained. This notebook uses the **demo pool** that ships with the package
(SmolLM2-135M-Instruct + four LoRA adapters + their routing index), so it runs offline on a laptop CPU:
the router alone, `AriadneLLM` (text in, text out) and `ChatAriadne` (messages in, an `AIMessage` out),
a question no adapter covers, streaming, and structured output.
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
    md("""
## `ChatAriadne`: the chat model most LangChain code reaches for
Messages in, an `AIMessage` out, routed on the last user message. The routing decision travels in
`response_metadata`: the adapter that answered, its score, and whether the router abstained.
"""),
    code("""
from langchain_core.prompts import ChatPromptTemplate
from ariadne_integrations.langchain import ChatAriadne

chat = ChatAriadne.from_index(demo_index_path(), max_tokens=32)
chat_chain = ChatPromptTemplate.from_messages([("human", "{query}")]) | chat
reply = chat_chain.invoke({"query": queries[1]})
print(reply.content)
print({k: reply.response_metadata[k] for k in ("adapter", "score", "abstained", "model_name")})
"""),
    md("""
### A question no adapter covers goes to the bare backbone
The demo index carries an abstention threshold calibrated on general questions: below it, no adapter is
applied and the metadata says so (`adapter: None`, `abstained: True`; `best` is the adapter it resembled most).
"""),
    code("""
general = chat.invoke("What is the capital of France?")
print(general.content)
print({k: general.response_metadata[k] for k in ("adapter", "abstained", "best", "score", "model_name")})
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

class Review(BaseModel):
    \"\"\"A product review: its sentiment and its star rating.\"\"\"
    sentiment: Literal["positive", "negative"]
    stars: int = Field(ge=1, le=5)

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
assert reply.response_metadata["adapter"] == "sql" and not reply.response_metadata["abstained"]
assert reply.content.strip() == "SELECT name FROM products WHERE category = 'garden';", reply.content
assert general.response_metadata["adapter"] is None and general.response_metadata["abstained"] is True
assert "paris" in general.content.lower(), general.content
print("all checks passed")
"""),
]

OWN_ADAPTERS = [
    md("""
# 2 · Your own adapters: train, index, answer, extend, save

Bring one JSONL file per task with `input` and `target` fields. `ariadne train` fits a LoRA adapter on the
CPU and scores it on held-out rows before and after; the adapter folder also keeps its training inputs,
so `ariadne index build --adapter DIR` indexes exactly what the adapter learned from. Then the index
answers: `AriadneLLM.from_index` routes each query to its adapter and generates with it.

To keep this notebook quick, the "own" data are small slices of the packaged demo tasks and training is
capped at 16 steps; with your data, drop `--max-steps`.
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
    md("## Train two adapters with the CLI\nOne `ariadne train` per task (16 steps of 8 examples each here; a minute or two on a laptop CPU)."),
    code("""
def ariadne(*args):
    out = subprocess.run([sys.executable, "-m", "ariadne_integrations.cli", *map(str, args)],
                         capture_output=True, text=True)
    print(out.stdout.strip() or out.stderr.strip()[-2000:])
    assert out.returncode == 0

def train(task):
    ariadne("train", "--data", work / f"{task}.train.jsonl", "--eval-data", work / f"{task}.test.jsonl",
            "--out", work / "adapters" / task, "--task", task, "--max-steps", 16, "--batch-size", 8)

train("sentiment")
"""),
    code("""
train("sql")
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
    md("""
## The payoff: the index answers with your adapters
`AriadneLLM.from_index` reads the adapter folders the index recorded. Two queries that are not among the
training inputs are routed to their adapter and answered in one mixed-adapter batch; `adapter="__base__"` asks
the bare backbone the same questions.
"""),
    code("""
from ariadne_integrations.langchain import AriadneLLM

held_out = ["Classify the sentiment: awful, it broke after a day.",
            "Translate to SQL: show products with a price below 20"]
llm = AriadneLLM.from_index(work / "index", max_new_tokens=32)
tuned = llm.generate(held_out)                              # routed: each query gets its adapter
base = llm.generate(held_out, adapter="__base__")           # forced: the bare backbone
for q, t, b in zip(held_out, tuned.generations, base.generations):
    print(f"{q}\\n  {t[0].generation_info['adapter']:>9}: {t[0].text.strip()!r}\\n  base model: {b[0].text.strip()[:90]!r}")
"""),
    md("""
## Add a third adapter to the running router, with its adapter folder
`add_adapter(name, texts, adapter_path=...)` embeds that adapter's inputs and computes *its* centroids only;
the others stay bit for bit. Here the folder is the packaged demo's `support_intent` adapter (trained on the
same backbone), indexed on the inputs of our small `support_intent` slice.
"""),
    code("""
import numpy as np
from ariadne_integrations import AriadneRouter
from ariadne_integrations.demo import demo_adapter_paths
from ariadne_integrations.routing.data import read_jsonl

router = AriadneRouter.load(work / "index")
before = {name: router.centroids(name).copy() for name in router.adapters}
support_inputs = [x for x, _ in read_jsonl(work / "support_intent.train.jsonl", "input", "target")]
router.add_adapter("support_intent", support_inputs, adapter_path=demo_adapter_paths()["support_intent"])
print(router.adapters)
d = router.route("Where is my parcel? Order #12345 has not arrived.")
print(d.adapter, round(d.score, 3), "runner-up:", d.runner_up)
"""),
    md("## Save the index, load it back: it routes the same, and answers with all three adapters"),
    code("""
router.save(work / "index")                       # re-saving an index folder: a new snapshot, swapped in atomically
loaded = AriadneRouter.load(work / "index")
probe = held_out + ["Where is my parcel? Order #12345 has not arrived."]
same = [(a.adapter, a.score) for a in router.route_batch(probe)] == [(b.adapter, b.score) for b in loaded.route_batch(probe)]
print("adapters:", loaded.adapters, "| same decisions after reload:", same)
print("support_intent folder:", loaded.adapter_path("support_intent"))

llm3 = AriadneLLM.from_index(work / "index", max_new_tokens=32)
answers = llm3.generate(probe)
for q, g in zip(probe, answers.generations):
    print(f"{g[0].generation_info['adapter']:>15}  {g[0].text.strip()!r:<50} <- {q}")
"""),
    md("## Checks"),
    code("""
for name, c in before.items():
    assert np.array_equal(router.centroids(name), c), name   # untouched
assert d.adapter == "support_intent"
for task in ("sentiment", "sql"):
    meta = json.loads((work / "adapters" / task / "ariadne_task.json").read_text())
    assert meta["score_after"] > meta["score_before"], (task, meta)
sql_key = lambda s: " ".join(s.strip().splitlines()[0].replace('"', "'").lower().rstrip(";").split())
assert [g[0].generation_info["adapter"] for g in tuned.generations] == ["sentiment", "sql"]
assert tuned.generations[0][0].text.strip() == "negative"
assert sql_key(tuned.generations[1][0].text) == sql_key("SELECT name FROM products WHERE price < 20;")
assert all(g[0].generation_info["adapter"] is None for g in base.generations)
assert [b[0].text.strip() for b in base.generations] != [t[0].text.strip() for t in tuned.generations]
assert same and loaded.adapters == ["sentiment", "sql", "support_intent"]
assert [g[0].generation_info["adapter"] for g in answers.generations] == ["sentiment", "sql", "support_intent"]
assert answers.generations[2][0].text.strip() == "shipping_status"
print("all checks passed")
"""),
]

LLAMAINDEX = [
    md("""
# 3 · LlamaIndex: `AriadneSelector` and `AriadneLlamaLLM` in a `RouterQueryEngine`

LlamaIndex's own `EmbeddingSingleSelector` compares a query with one *description* per tool, re-embedding
descriptions on every call. `AriadneSelector` compares it with centroids of example queries per tool,
embedded once. Tools with no examples fall back to their description, so they still compete.

Below: a router engine over three small document indices picks the index for each question and
`AriadneLlamaLLM` (the local SmolLM2 backbone) answers it from the retrieved text; the same LLM, routed,
answers with the demo adapters; a fourth tool joins with a description only; and the two selectors are
compared on the same tools and the same held-out questions.
"""),
    SETUP,
    code("""
from llama_index.core import Document, SummaryIndex, VectorStoreIndex
from llama_index.core.query_engine import RouterQueryEngine
from llama_index.core.tools import QueryEngineTool
from ariadne_integrations.demo import demo_index_path
from ariadne_integrations.llama_index import AriadneEmbedding, AriadneLlamaLLM, AriadneSelector

docs = {
    "billing_docs": ["Refunds for duplicate charges are issued within 5 business days.",
                     "Invoices are emailed on the first day of each month."],
    "product_docs": ["To export a report, open Reports, choose Export and pick CSV or PDF.",
                     "Dashboards can be shared with teammates from the Share menu."],
    "travel_policy": ["Economy class is required for flights under six hours.",
                      "Hotel stays are reimbursed up to 150 euros per night."],
}
descriptions = {
    "billing_docs": "Billing: charges, refunds, invoices and payments.",
    "product_docs": "Using the product: reports, exports, dashboards and sharing.",
    "travel_policy": "The company travel policy: flights, hotels and expenses on business trips.",
}
embed = AriadneEmbedding()            # the offline MiniLM, as a LlamaIndex embedding (never OpenAI)
# the demo adapters know sentiment, SQL, dates and support intents, not these documents: the bare backbone answers
llm = AriadneLlamaLLM.from_index(str(demo_index_path()), adapter="__base__", max_new_tokens=40)
indices = {
    "billing_docs": VectorStoreIndex.from_documents([Document(text=t) for t in docs["billing_docs"]], embed_model=embed),
    "product_docs": VectorStoreIndex.from_documents([Document(text=t) for t in docs["product_docs"]], embed_model=embed),
    "travel_policy": SummaryIndex.from_documents([Document(text=t) for t in docs["travel_policy"]]),
}
tools = [QueryEngineTool.from_defaults(query_engine=idx.as_query_engine(llm=llm), name=name, description=descriptions[name])
         for name, idx in indices.items()]
"""),
    md("""
## Select the index, answer from its documents
The selector knows each tool by a few example questions; SmolLM2 answers from the retrieved text.
`response.metadata` says which tool was picked and which adapter answered (`None`: the bare backbone).
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
questions = [("How do I export a report as a PDF?", "product_docs"),
             ("How much is a hotel night reimbursed?", "travel_policy")]
answered = []
for q, want in questions:
    resp = engine.query(q)
    tool = tools[resp.metadata["selector_result"].ind].metadata.name
    answered.append((tool, str(resp).strip(), resp.metadata["ariadne_adapter"]))
    print(f"{q}\\n  tool {tool}, adapter {resp.metadata['ariadne_adapter']} -> {answered[-1][1]!r}")
"""),
    md("""
## Routed: the demo adapters answer the questions they were trained for
Without `adapter="__base__"`, `AriadneLlamaLLM` routes every call: a sentiment request goes to the `sentiment`
adapter, and a general question falls below the demo index's calibrated threshold, so the bare backbone takes it.
"""),
    code("""
routed = AriadneLlamaLLM.from_index(str(demo_index_path()), max_new_tokens=24)
review = routed.complete("Classify the sentiment: What a wonderful desk lamp! I love it. 5/5.")
general = routed.complete("What is the capital of France?")
for r in (review, general):
    info = r.additional_kwargs
    print(f"adapter={info['adapter']!s:<10} abstained={info['abstained']!s:<5} score={info['score']:.3f}  {r.text.strip()!r}")
"""),
    md("""
## A tool with no examples competes by its description
`hr_policy` matches no example key, so its description is embedded (once) and scored as a single centroid.
The selector warns once per such tool: usually the name differs from an example key by a typo.
"""),
    code("""
import warnings

hr = SummaryIndex.from_documents([Document(text="New employees get 25 vacation days a year."),
                                  Document(text="Parental leave is 16 weeks at full pay.")])
hr_tool = QueryEngineTool.from_defaults(query_engine=hr.as_query_engine(llm=llm), name="hr_policy",
                                        description="Human resources policy: vacation days, parental leave and sick days.")
engine4 = RouterQueryEngine(selector=selector, query_engine_tools=tools + [hr_tool], llm=llm)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    hr_resp = engine4.query("How many vacation days do new employees get?")
    again = engine4.query("Is parental leave paid?")
print("warnings:", [str(w.message) for w in caught])
for r in (hr_resp, again):
    sel = r.metadata["selector_result"]
    print(f"{(tools + [hr_tool])[sel.ind].metadata.name}: {sel.reason}")
print("answer to the first:", repr(str(hr_resp).strip()))
"""),
    md("""
## Against LlamaIndex's `EmbeddingSingleSelector`
Same four tools, same embedder, the same 20 held-out questions (none of them an example). LlamaIndex's selector
sees each tool's description; `AriadneSelector` sees the four examples per tool above (and `hr_policy`'s
description). With four narrow tools and descriptions written for exactly these topics, descriptions do
about as well as examples; `AriadneSelector` embeds only the query, LlamaIndex's selector also re-embeds
every description on every call. Where tools are broad and their questions varied, examples win:
`benchmarks/bench_llamaindex.py` runs the same comparison on CLINC150 (10 domains as tools), read below.
"""),
    code("""
import time
from llama_index.core.selectors import EmbeddingSingleSelector

all_tools = [t.metadata for t in tools + [hr_tool]]
held_out = [
    ("I was billed twice this month", "billing_docs"), ("when will I get my money back", "billing_docs"),
    ("the invoice amount looks wrong", "billing_docs"), ("can I pay by bank transfer", "billing_docs"),
    ("why did my payment fail", "billing_docs"),
    ("how can I download my report as a PDF", "product_docs"), ("how do I give a colleague access to my dashboard", "product_docs"),
    ("can I change the colours of a chart", "product_docs"), ("where do I find the export button", "product_docs"),
    ("the dashboard does not load", "product_docs"),
    ("is a 200 euro hotel night ok on a business trip", "travel_policy"), ("may I take a train instead of flying", "travel_policy"),
    ("who pays for my meals when I travel for work", "travel_policy"), ("can I upgrade to business class on a long flight", "travel_policy"),
    ("do I need approval before booking a conference trip", "travel_policy"),
    ("how much holiday do I have left", "hr_policy"), ("I am having a baby, how long can I stay home", "hr_policy"),
    ("what happens if I am sick for a week", "hr_policy"), ("can I carry unused vacation days into next year", "hr_policy"),
    ("who do I tell that I am sick today", "hr_policy"),
]
lli = EmbeddingSingleSelector.from_defaults(embed_model=embed)
results = {}
for name, sel in (("AriadneSelector (examples)", selector), ("EmbeddingSingleSelector (descriptions)", lli)):
    picks, t0 = [], time.perf_counter()
    for q, _ in held_out:
        picks.append(all_tools[sel.select(all_tools, q).ind].name)
    ms = (time.perf_counter() - t0) / len(held_out) * 1000
    results[name] = sum(p == w for p, (_, w) in zip(picks, held_out)) / len(held_out)
    wrong = [(q, p) for p, (q, w) in zip(picks, held_out) if p != w]
    print(f"{name:<40} accuracy {results[name]:.0%} ({len(held_out)} questions), {ms:.0f} ms per selection; wrong: {wrong}")
"""),
    code("""
import json
from pathlib import Path
clinc = json.loads(Path("../benchmarks/results/llamaindex.json").read_text())
for name in ("AriadneSelector (examples)", "EmbeddingSingleSelector (descriptions)"):
    r = clinc["results"][name]
    print(f"CLINC150, {r['n']} dev queries: {name:<40} accuracy {r['accuracy']:.0%}, median {r['median_ms']:.0f} ms per selection")
"""),
    md("## Checks"),
    code("""
assert [a[0] for a in answered] == [w for _, w in questions]
assert all(a[2] is None for a in answered)          # adapter="__base__": the bare backbone answered
assert "export" in answered[0][1].lower(), answered[0]
assert "150 euros" in answered[1][1], answered[1]
assert review.additional_kwargs["adapter"] == "sentiment" and review.text.strip() == "positive"
assert general.additional_kwargs["adapter"] is None and general.additional_kwargs["abstained"]
hr_msgs = [str(w.message) for w in caught if "hr_policy" in str(w.message)]
assert len(hr_msgs) == 1 and "description" in hr_msgs[0]       # warned once, not per query
assert hr_resp.metadata["selector_result"].ind == 3 and "(by description)" in hr_resp.metadata["selector_result"].reason
assert "25" in str(hr_resp)
assert results["AriadneSelector (examples)"] >= 0.9 and results["EmbeddingSingleSelector (descriptions)"] >= 0.9
print("all checks passed")
"""),
]

EVALUATION = [
    md("""
# 4 · Evaluating routing: accuracy, confusion, score distributions, and an abstention threshold

On CLINC150 (10 domains as adapters, 150 intents spread over them). Queries that belong to no adapter
(CLINC's out-of-scope rows) should be *abstained on*: the backbone alone answers them. We choose the
threshold on held-out data, never on the rows we report, exactly as `benchmarks/bench_routing.py` does, so
the figures below are README's.

**The data.** CLINC150 is public (Larson et al., 2019, CC BY 3.0). To run this notebook:

```bash
curl -LO https://raw.githubusercontent.com/clinc/oos-eval/master/data/data_full.json   # github.com/clinc/oos-eval
python scripts/prepare_clinc150.py data_full.json --out ../shared/benchmarks/clinc150
```

The notebook reads `$ARIADNE_BENCHMARKS/clinc150` when that variable is set, else `../../shared/benchmarks/clinc150`
(a `shared/benchmarks` folder beside the repository). Without the data it stops with an error rather than fall
back to the demo data, which has no out-of-scope queries, so the abstention checks could not run.
"""),
    SETUP,
    code("""
import os
from pathlib import Path
from ariadne_integrations import AriadneRouter, evaluate_router, read_jsonl
from ariadne_integrations.routing.data import group_by_label, split_heldout

root = Path(os.environ.get("ARIADNE_BENCHMARKS") or "../../shared/benchmarks")   # see the download steps above
bench = (root / "clinc150").resolve()
train, dev, oos_train = bench / "train.jsonl", bench / "dev.jsonl", bench / "train_oos.jsonl"
missing = [p.name for p in (train, dev, oos_train) if not p.is_file()]
if missing:  # no silent fallback: without out-of-scope rows the abstention checks would not run
    raise FileNotFoundError(f"CLINC150 benchmark data missing in {bench}: {', '.join(missing)}; set $ARIADNE_BENCHMARKS "
                            "or run scripts/prepare_clinc150.py (download steps at the top of this notebook)")
print("data:", bench)
rows = read_jsonl(train)                             # [(utterance, domain)]
fit, held = split_heldout(rows, share=0.1, seed=0)   # bench_routing's split: a seeded 10 % of every domain held out
router = AriadneRouter.from_examples(group_by_label(fit))   # default: k-means centroids, k from the data
dev_rows = read_jsonl(dev)                           # 3,000 in-scope rows + 100 labelled "oos"
report = evaluate_router(router, [t for t, _ in dev_rows], [l for _, l in dev_rows])
print(f"{len(fit)} training rows indexed, {len(held)} held out for calibration")
print(f"selection accuracy {report.selection_accuracy:.2%} on {report.n} in-scope dev rows (no threshold)")
for task, r in report.per_task.items():
    print(f"  {task:>18}: {r['accuracy']:.1%} ({r['n']})")
"""),
    md("The confusion matrix on a log colour scale: the diagonal holds ~97 % of each row, the few confusions stay visible."),
    code("""
from ariadne_integrations.routing.plots import plot_abstention_curve, plot_confusion, plot_score_distributions
plot_confusion(report, log_scale=True);
"""),
    md("""
## Choosing the abstention threshold
Centroids fitted without the held-out 10 % score those rows and CLINC's `train_oos` questions; each candidate
threshold gives an in-scope accuracy (abstaining counts as wrong) and a share of out-of-scope queries rejected.
The balanced choice maximises their sum.
"""),
    code("""
oos = [t for t, _ in read_jsonl(oos_train)]
held_texts, held_labels = [t for t, _ in held], [l for _, l in held]
cal = router.calibrate(held_texts, held_labels, oos)        # applies the chosen threshold to the router
print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in cal.items() if k != "curve"})
"""),
    code("""
after = evaluate_router(router, [t for t, _ in dev_rows], [l for _, l in dev_rows])
print(f"on dev, threshold {router.threshold:.3f}: in-scope accuracy {after.in_scope_accuracy:.2%} (abstaining counts as wrong), "
      f"out-of-scope rejected {after.abstain['oos_abstained']:.2%} of {after.abstain['n']}")
"""),
    code("""
plot_abstention_curve(cal, points={"dev (reported)": (after.abstain["oos_abstained"], after.in_scope_accuracy)},
                      xlim=(0.5, 1.0), ylim=(0.8, 1.0),
                      title="abstention curve on the calibration data (zoomed)");
"""),
    code("""
plot_score_distributions(after, title=f"dev: best-adapter score, threshold {router.threshold:.3f}");
"""),
    md("## The same figures as `benchmarks/bench_routing.py` (README's table)"),
    code("""
import json
ref = json.loads(Path("../benchmarks/results/routing.json").read_text())["abstention_clinc150"]["default (kmeans), balanced"]
ours = {"threshold": router.threshold, "dev_in_scope_accuracy_abstain_wrong": after.in_scope_accuracy,
        "dev_oos_rejection": after.abstain["oos_abstained"], "dev_selection_accuracy_no_threshold": report.selection_accuracy}
for k, v in ours.items():
    print(f"{k:<40} notebook {v:.4f}   bench_routing {ref[k]:.4f}")
"""),
    md("## Checks"),
    code("""
assert report.selection_accuracy > 0.9, report.selection_accuracy
assert after.abstain is not None and after.abstain["n"] >= 50, "the abstention checks need the out-of-scope dev rows"
assert after.abstain["oos_abstained"] > 0.5 and after.in_scope_accuracy > 0.85, (after.abstain, after.in_scope_accuracy)
assert abs(ours["threshold"] - ref["threshold"]) < 1e-3, (ours, ref)
for k in ("dev_in_scope_accuracy_abstain_wrong", "dev_oos_rejection", "dev_selection_accuracy_no_threshold"):
    assert abs(ours[k] - ref[k]) < 1e-3, (k, ours[k], ref[k])    # README: 0.487, 93.13 %, 92.00 %
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
    md("## Coalesced: the fan-out costs what one batch costs\nThe same five sub-queries as one `batch`, and one at a time in a loop (on an idle CPU the loop takes about twice the fan-out's time):"),
    code("""
import statistics

async def timed(run):
    t0 = time.perf_counter(); out = await run(); return out, time.perf_counter() - t0

async def fan_out(): return await app.ainvoke({"queries": request, "answers": []})
async def one_batch(): return chat.batch(request)
async def loop(): return [chat.invoke(q) for q in request]

times = {"fan-out": [], "batch": [], "loop": []}
for _ in range(3):                  # interleaved repeats, medians: the CPU may be shared
    state, s = await timed(fan_out); times["fan-out"].append(s)
    batched, s = await timed(one_batch); times["batch"].append(s)
    looped, s = await timed(loop); times["loop"].append(s)
fan_out_s, batch_s, loop_s = (statistics.median(times[k]) for k in ("fan-out", "batch", "loop"))
print(f"median of 3: LangGraph Send fan-out {fan_out_s:.2f} s | one batch {batch_s:.2f} s | sequential loop {loop_s:.2f} s")
print(f"the loop takes {loop_s / fan_out_s:.1f}x the fan-out's time; the fan-out takes {fan_out_s / batch_s:.2f}x one batch's")
print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: on a busy CPU every variant waits for it, "
      "so the ratios say most on an idle machine)")
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
        try:
            NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(NB_DIR)}}).execute()
        except Exception:
            failed = Path(tempfile.gettempdir()) / f"failed_{name}"
            nbformat.write(nb, failed)  # the outputs up to the failing cell, for a look; the committed notebook is kept
            print(f"{name}: failed; its outputs so far are in {failed}", file=sys.stderr)
            raise
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
