"""Request coalescing: concurrent calls (threads, ``asyncio.gather`` of ``ainvoke``) share one batch.

The first part checks the coalescer's logic (window, batch size, configs, failure isolation,
cancellation, event loop) with :class:`FakeBackend` and the real router; the second part runs the
real backbone and the demo adapters: concurrent answers equal one ``batch`` of the same prompts,
far fewer ``generate`` calls than requests, a bad request fails alone, and each caller's metadata
names its own adapter.
"""
from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ariadne_integrations.core.coalescing import CoalescedRequest, Coalescer, coalescer_for
from ariadne_integrations.core.generator import RoutedGenerator, forced_decision
from ariadne_integrations.demo import DEMO_TASKS as TASKS
from ariadne_integrations.errors import InvalidInputError, UnknownAdapterError
from ariadne_integrations.langchain import AriadneLLM, ChatAriadne
from ariadne_integrations.runtime.generation import GenerationConfig
from ariadne_integrations.testing import FakeBackend


class SlowFake(FakeBackend):
    """A FakeBackend whose generate takes ``delay`` seconds (a batch being generated)."""

    def __init__(self, adapters: Any, delay: float = 0.0, fail_on: str | None = None) -> None:
        super().__init__(adapters, fail_on=fail_on)
        self.delay = delay

    def generate(self, prompts, adapters, config):
        if self.delay:
            time.sleep(self.delay)
        return super().generate(prompts, adapters, config)


def _req(backend, text, adapter="sql", config=None):
    return CoalescedRequest(backend=backend, prompts=[text], config=config or GenerationConfig(),
                            decisions=[forced_decision(adapter)])


def _together(fns, workers=None):
    """Run callables at the same moment from separate threads; their results (or exceptions) in order."""
    barrier = threading.Barrier(len(fns))

    def run(fn):
        barrier.wait()
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - compared by the test
            return exc

    with ThreadPoolExecutor(workers or len(fns)) as pool:
        return list(pool.map(run, fns))


def mixed(held_out, n_per_task=4, start=0):
    qs, labels = [], []
    for i in range(start, start + n_per_task):
        for t in TASKS:
            qs.append(held_out[t][i])
            labels.append(t)
    return qs, labels


# --------------------------------------------------------------------------- the coalescer alone
def test_concurrent_requests_share_one_generate_and_get_their_own_rows():
    be = FakeBackend(TASKS)
    co = Coalescer(window_ms=30, max_batch_size=32)
    reqs = [_req(be, f"q{i}", TASKS[i % 4]) for i in range(12)]
    out = _together([lambda r=r: co.run(r) for r in reqs])
    assert len(be.calls) == 1 and len(be.calls[0][0]) == 12
    for i, pairs in enumerate(out):
        ((decision, result),) = pairs
        assert decision.adapter == TASKS[i % 4] and result.text == f"[{TASKS[i % 4]}] q{i}"
    assert co.stats.requests == 12 and co.stats.generate_calls == 1 and co.stats.batches == 1


def test_calls_further_apart_than_the_window_are_not_held_back():
    be = FakeBackend(TASKS)
    co = Coalescer(window_ms=5, max_batch_size=32)
    t = time.perf_counter()
    co.run(_req(be, "a"))
    first = time.perf_counter() - t
    time.sleep(0.1)
    co.run(_req(be, "b"))
    assert len(be.calls) == 2
    assert first < 1.0  # a lone call waits about one window, not the 10-window cap


def test_max_batch_size_splits_the_queue_but_never_a_request():
    be = SlowFake(TASKS, delay=0.05)
    co = Coalescer(window_ms=30, max_batch_size=4)
    singles = [_req(be, f"q{i}") for i in range(10)]
    out = _together([lambda r=r: co.run(r) for r in singles])
    assert all(len(o) == 1 for o in out)
    assert all(len(c[0]) <= 4 for c in be.calls) and len(be.calls) >= 3
    big = CoalescedRequest(backend=be, prompts=[f"b{i}" for i in range(6)], config=GenerationConfig(),
                           decisions=[forced_decision("sql")] * 6)
    be.calls.clear()
    assert len(co.run(big)) == 6 and [len(c[0]) for c in be.calls] == [6]


def test_different_configs_get_one_generate_each_and_seeded_sampling_runs_alone():
    be = FakeBackend(TASKS)
    co = Coalescer(window_ms=30, max_batch_size=32)
    short, longer = GenerationConfig(max_new_tokens=4), GenerationConfig(max_new_tokens=8)
    seeded = GenerationConfig(temperature=0.7, seed=3)
    reqs = [_req(be, f"s{i}", config=short) for i in range(3)] + [_req(be, f"l{i}", config=longer) for i in range(3)]
    reqs += [_req(be, f"x{i}", config=seeded) for i in range(2)]
    _together([lambda r=r: co.run(r) for r in reqs])
    sizes = sorted((c[2].max_new_tokens, len(c[0])) for c in be.calls)
    assert sizes == [(4, 3), (8, 3), (64, 1), (64, 1)]


def test_a_failing_generate_is_retried_call_by_call_so_only_the_bad_one_fails():
    be = FakeBackend(TASKS, fail_on="EXPLODE")
    co = Coalescer(window_ms=30, max_batch_size=32)
    texts = ["fine 0", "fine 1", "EXPLODE here", "fine 3", "fine 4"]
    out = _together([lambda t=t: co.run(_req(be, t)) for t in texts])
    assert isinstance(out[2], RuntimeError) and "EXPLODE" in str(out[2])
    assert [o[0][1].text for i, o in enumerate(out) if i != 2] == [f"[sql] fine {i}" for i in (0, 1, 3, 4)]
    assert co.stats.retried == 1


def test_a_cancelled_request_is_never_generated():
    be = SlowFake(TASKS, delay=0.2)
    co = Coalescer(window_ms=20, max_batch_size=32)
    first = co.submit(_req(be, "busy"))  # occupies the leader for 0.2 s
    time.sleep(0.05)
    doomed, kept = co.submit(_req(be, "doomed")), co.submit(_req(be, "kept"))
    assert doomed.cancel()
    assert kept.result(5)[0][1].text == "[sql] kept" and first.result(5)
    assert not any("doomed" in p for c in be.calls for p in c[0])


def test_one_coalescer_per_backend_and_setting():
    a, b = FakeBackend(TASKS), FakeBackend(TASKS)
    assert coalescer_for(a, 10, 32) is coalescer_for(a, 10, 32)
    assert coalescer_for(a, 10, 32) is not coalescer_for(b, 10, 32)
    assert coalescer_for(a, 10, 32) is not coalescer_for(a, 5, 32)
    with pytest.raises(InvalidInputError):
        Coalescer(window_ms=0, max_batch_size=4)
    with pytest.raises(InvalidInputError):
        RoutedGenerator(None, a, max_batch_size=0)


# --------------------------------------------------------------------------- through the wrappers (fake backend)
def test_threads_and_gather_through_wrappers_share_batches_with_own_metadata(routing_index, held_out):
    be = SlowFake(TASKS, delay=0.05)
    llm = AriadneLLM(index=routing_index, backend=be, coalesce_window_ms=20)
    chat = ChatAriadne(index=routing_index, backend=be, coalesce_window_ms=20)  # another wrapper, same backend
    qs, labels = mixed(held_out, 2)
    llm.generator.load()
    chat.generator.load()

    async def gather():
        return await asyncio.gather(*[chat.ainvoke(q) for q in qs])

    outs = _together([lambda q=q: llm.generate([q]).generations[0][0] for q in qs] + [lambda: asyncio.run(gather())])
    threads, chats = outs[:-1], outs[-1]
    assert [g.generation_info["adapter"] for g in threads] == labels
    assert [m.response_metadata["adapter"] for m in chats] == labels
    assert all(g.text == f"[{t}] {q}" for g, t, q in zip(threads, labels, qs))
    assert len(be.calls) <= 4, [len(c[0]) for c in be.calls]  # 16 requests
    assert sum(len(c[0]) for c in be.calls) == 16


def test_many_ainvoke_form_one_batch_without_blocking_the_event_loop(routing_index, held_out):
    be = SlowFake(TASKS, delay=0.3)
    llm = AriadneLLM(index=routing_index, backend=be)
    qs, labels = mixed(held_out, 5)  # 20 calls: more than the default executor's worker threads here
    llm.generator.load()
    ticks = []

    async def ticker(stop):
        while not stop.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.01)

    async def main():
        stop = asyncio.Event()
        tick = asyncio.create_task(ticker(stop))
        outs = await asyncio.gather(*[llm.ainvoke(q) for q in qs])
        stop.set()
        await tick
        return outs

    outs = asyncio.run(main())
    assert [o.split("]")[0][1:] for o in outs] == labels
    assert len(be.calls) == 1 and len(be.calls[0][0]) == 20
    assert max(b - a for a, b in zip(ticks, ticks[1:])) < 0.2, "the event loop was blocked"


def test_bad_requests_fail_alone_among_concurrent_good_ones(routing_index, held_out):
    be = FakeBackend(TASKS, fail_on="EXPLODE")
    llm = AriadneLLM(index=routing_index, backend=be, coalesce_window_ms=30)
    qs, labels = mixed(held_out, 1)
    llm.generator.load()
    calls = [lambda q=q: llm.invoke(q) for q in qs]
    calls += [lambda: llm.invoke("EXPLODE " + qs[0]), lambda: llm.invoke(""), lambda: llm.invoke(qs[1], adapter="nope")]
    outs = _together(calls)
    assert [o.split("]")[0][1:] for o in outs[:4]] == labels
    assert isinstance(outs[4], RuntimeError) and isinstance(outs[5], InvalidInputError)
    assert isinstance(outs[6], UnknownAdapterError)


def test_a_routed_adapter_the_backend_lacks_fails_only_that_call(routing_router, held_out):
    be = FakeBackend(["sentiment"])
    gen = RoutedGenerator(routing_router, be, coalesce_window_ms=30)
    outs = _together([lambda: gen.generate([held_out["sql"][0]]), lambda: gen.generate([held_out["sentiment"][0]])])
    assert isinstance(outs[0], UnknownAdapterError) and outs[1][0].adapter == "sentiment"


def test_llamaindex_acomplete_and_achat_coalesce_too(routing_index, held_out):
    pytest.importorskip("llama_index.core")
    from llama_index.core.base.llms.types import ChatMessage

    from ariadne_integrations.llama_index import AriadneLlamaLLM

    be = SlowFake(TASKS, delay=0.05)
    llm = AriadneLlamaLLM(index=str(routing_index), backend=be)
    qs, labels = mixed(held_out, 2)
    llm.generator.load()

    async def main():
        done = [llm.acomplete(q) for q in qs[:4]] + [llm.achat([ChatMessage(role="user", content=q)]) for q in qs[4:]]
        return await asyncio.gather(*done)

    outs = asyncio.run(main())
    assert [o.additional_kwargs["adapter"] for o in outs] == labels
    assert len(be.calls) == 1 and len(be.calls[0][0]) == 8


def test_window_zero_turns_coalescing_off(routing_index, held_out):
    be = FakeBackend(TASKS)
    llm = AriadneLLM(index=routing_index, backend=be, coalesce_window_ms=0)
    assert llm.generator.coalescer is None
    qs, _ = mixed(held_out, 1)
    _together([lambda q=q: llm.invoke(q) for q in qs])
    assert len(be.calls) == 4
    be.calls.clear()

    async def main():
        return await asyncio.gather(*[llm.ainvoke(q) for q in qs])

    asyncio.run(main())
    assert len(be.calls) == 4
    with pytest.raises(InvalidInputError, match="coalesce_window_ms"):
        AriadneLLM(index=routing_index, coalesce_window_ms=-1)


# --------------------------------------------------------------------------- real backbone + demo adapters
N_TOK = 8


class Spy:
    """Wraps the real runtime's generate: counts calls and rows; raises when a row contains ``poison``."""

    def __init__(self, runtime: Any, poison: str | None = None) -> None:
        self.real = runtime.generate
        self.poison = poison
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, prompts, adapters=None, config=None):
        with self.lock:
            self.calls.append(len(prompts))
        if self.poison and any(self.poison in (p if isinstance(p, str) else p[-1]["content"]) for p in prompts):
            raise RuntimeError("poisoned row")
        return self.real(prompts, adapters, config)


@pytest.fixture(scope="module")
def real_llm(real_index):
    llm = AriadneLLM.from_index(real_index, max_new_tokens=N_TOK)
    llm.generator.load()
    return llm


@pytest.mark.slow
def test_real_concurrent_calls_equal_one_batch_in_few_generate_calls(real_llm, real_index, held_out, monkeypatch):
    qs, labels = mixed(held_out, 4)
    reference = real_llm.batch(qs)
    spy = Spy(real_llm.generator.backend)
    monkeypatch.setattr(real_llm.generator.backend, "generate", spy)
    chat = ChatAriadne(index=real_index, max_new_tokens=N_TOK)  # another wrapper over the same cached runtime

    async def gather():
        return await asyncio.gather(*[chat.ainvoke(q) for q in qs[8:]])

    outs = _together([lambda q=q: real_llm.generate([q]).generations[0][0] for q in qs[:8]] + [lambda: asyncio.run(gather())])
    threads, chats = outs[:8], outs[8]
    assert [g.text for g in threads] + [m.content for m in chats] == reference
    assert [g.generation_info["adapter"] for g in threads] == labels[:8]
    assert [m.response_metadata["adapter"] for m in chats] == labels[8:]
    assert [m.response_metadata["model_name"].split(":")[-1] for m in chats] == labels[8:]
    assert all(g.generation_info["forced"] is False and g.generation_info["score"] > 0 for g in threads)
    assert sum(spy.calls) == 16 and len(spy.calls) <= 4, spy.calls


@pytest.mark.slow
def test_real_bad_request_fails_alone(real_llm, held_out, monkeypatch):
    qs, labels = mixed(held_out, 1, start=4)
    reference = real_llm.batch(qs)
    spy = Spy(real_llm.generator.backend, poison="POISON")
    monkeypatch.setattr(real_llm.generator.backend, "generate", spy)

    async def one(q):
        return (await real_llm.agenerate([q])).generations[0][0]

    async def main():
        calls = [one(q) for q in qs]
        calls += [
            real_llm.ainvoke("POISON " + qs[0]),                 # the shared generate raises: retried one by one
            real_llm.ainvoke(qs[1], max_new_tokens=100_000),     # the runtime rejects it (no room in the context)
            real_llm.ainvoke(qs[2], adapter="nope"),             # unknown adapter: refused before any work
            real_llm.ainvoke("   "),                              # empty prompt
        ]
        return await asyncio.gather(*calls, return_exceptions=True)

    outs = asyncio.run(main())
    assert [g.text for g in outs[:4]] == reference
    assert [g.generation_info["adapter"] for g in outs[:4]] == labels
    assert isinstance(outs[4], RuntimeError) and "poisoned" in str(outs[4])
    assert isinstance(outs[5], InvalidInputError) and "context" in str(outs[5])
    assert isinstance(outs[6], UnknownAdapterError) and isinstance(outs[7], InvalidInputError)
    assert len(spy.calls) <= 8, spy.calls  # one shared try, then each call of the failed batch alone


# --------------------------------------------------------------------------- the benchmark's quick mode
@pytest.mark.slow
def test_benchmark_quick_mode_reports_five_settings_with_identical_answers(tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("langgraph")
    repo = Path(__file__).resolve().parents[2]
    out = tmp_path / "langchain.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(repo / "benchmarks" / "bench_langchain.py"), "--quick", "--out", str(out)],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["quick"] is True and result["routed_to_expected_adapter"] == f"{result['n_prompts']}/{result['n_prompts']}"
    (setting,) = result["settings"]
    runs = setting["runs"]
    assert set(runs) == {"a_batch", "b_async_gather", "c_threads", "d_langgraph_send", "e_loop"}
    n = result["n_prompts"]
    assert all(r["answers_equal_batch"] == f"{n}/{n}" for r in runs.values()), runs
    assert runs["a_batch"]["generate_calls_last_repeat"] == 1 and runs["e_loop"]["generate_calls_last_repeat"] == n
    for key in ("b_async_gather", "c_threads", "d_langgraph_send"):
        assert 1 <= runs[key]["generate_calls_last_repeat"] < n, (key, runs[key])  # coalesced, not one call each
    assert "| (a) batch |" in proc.stdout and "(d) LangGraph Send" in proc.stdout
