"""OpenAICompatibleBackend (on the official openai SDK) against a small fake OpenAI-compatible server on
127.0.0.1 (vLLM-style multi-LoRA: the adapter name is the request's ``model``), and the same chain moved
onto it: sync, and truly async (``AsyncOpenAI`` on the caller's event loop, no worker thread).

The server is a real HTTP server, so the SDK's own request, retry, timeout and SSE paths run."""
from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest.importorskip("openai", reason="base_url= needs the [openai] extra")

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate

from ariadne_integrations.errors import (
    MissingDependencyError,
    ServerError,
    ServerTimeoutError,
    ServerUnavailableError,
    UnknownAdapterError,
)
from ariadne_integrations.langchain import AriadneLLM, ChatAriadne
from ariadne_integrations.runtime.generation import (
    AsyncGenerationBackend,
    GenerationBackend,
    GenerationConfig,
    is_async_backend,
)
from ariadne_integrations.runtime.openai_backend import OpenAICompatibleBackend

SERVED = ["base", "sentiment", "support_intent", "date_iso", "sql"]
ALL_TASKS = ["sentiment", "support_intent", "date_iso", "sql"]


class _Handler(BaseHTTPRequestHandler):
    """``model`` picks the adapter. Special models: ``flaky`` fails with 503 ``fail_first`` times, ``slow``
    sleeps ``delay`` seconds. A message ``sleep:<s>`` sleeps that long (to see requests overlap).
    The server ignores ``stop`` (like some engines do): the backend must cut the answer itself."""

    requests: list[tuple[str, dict]] = []
    missing: set[str] = set()  # listed by /v1/models but answered with 404 (an adapter unloaded meanwhile)
    fail_first = 0
    delay = 1.0
    in_flight = 0
    max_in_flight = 0
    lock = threading.Lock()

    def log_message(self, *args):  # keep test output clean
        pass

    def _json(self, code, obj, headers=None):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in SERVED + ["flaky", "slow"]]})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self):
        cls = type(self)
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls.requests.append((self.path, payload))
        with cls.lock:
            cls.in_flight += 1
            cls.max_in_flight = max(cls.max_in_flight, cls.in_flight)
        try:
            self._answer(payload)
        finally:
            with cls.lock:
                cls.in_flight -= 1

    def _answer(self, payload):
        cls = type(self)
        model = payload["model"]
        content = (payload.get("messages") or [{}])[-1].get("content") or payload.get("prompt") or ""
        if content.startswith("sleep:"):
            time.sleep(float(content[6:]))
        if model == "flaky":
            with cls.lock:
                cls.fail_first -= 1
                failing = cls.fail_first >= 0
            if failing:
                return self._json(503, {"error": {"message": "engine overloaded"}}, {"retry-after-ms": "1"})
        if model == "slow":
            time.sleep(cls.delay)
        if model not in SERVED + ["flaky", "slow"] or model in cls.missing:
            return self._json(404, {"error": {"message": f"The model `{model}` does not exist.", "code": 404}})
        text = f"answer from {model} END tail"
        chat = self.path.endswith("/chat/completions")
        if payload.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for word in text.split(" "):
                piece = word + " "
                choice = {"index": 0, "delta": {"content": piece}} if chat else {"index": 0, "text": piece}
                self.wfile.write(f"data: {json.dumps({'choices': [choice]})}\n\n".encode())
            last = {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
            self.wfile.write(f"data: {json.dumps(last)}\n\n".encode())
            usage = {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11}}
            self.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())
            return
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        self._json(200, {"id": "x", "object": "chat.completion" if chat else "text_completion", "created": 0,
                         "choices": [choice], "model": model,
                         "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11}})


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _clear():
    _Handler.requests.clear()
    _Handler.missing = set()
    _Handler.fail_first = 0
    _Handler.max_in_flight = 0


def _dead_url() -> str:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


# --------------------------------------------------------------------------- the backend, sync
def test_backend_sends_routed_adapter_as_model(server):
    be = OpenAICompatibleBackend(server, api_key="k")
    assert isinstance(be, GenerationBackend) and isinstance(be, AsyncGenerationBackend) and is_async_backend(be)
    assert be.has_adapter("sql") and not be.has_adapter("nope")
    cfg = GenerationConfig(max_new_tokens=9, temperature=0.2, stop=("END",), top_k=5)
    out = be.generate(["a", [{"role": "user", "content": "b"}], "c"], ["sql", None, "sentiment"], cfg)
    assert [r.text for r in out] == ["answer from sql ", "answer from base ", "answer from sentiment "]
    assert [r.adapter for r in out] == ["sql", None, "sentiment"]
    assert out[0].prompt_tokens == 5 and out[0].completion_tokens == 6 and out[0].stop_sequence == "END"
    sent = {p["messages"][-1]["content"]: p for _, p in _Handler.requests}
    assert sent["a"]["model"] == "sql" and sent["b"]["model"] == "base" and sent["c"]["model"] == "sentiment"
    assert sent["a"]["max_tokens"] == 9 and sent["a"]["stop"] == ["END"] and sent["a"]["temperature"] == 0.2
    assert sent["a"]["top_k"] == 5  # a vLLM / llama.cpp extension, sent through the SDK's extra_body
    raw = be.generate(["plain"], ["date_iso"], GenerationConfig(apply_chat_template=False))
    assert _Handler.requests[-1][0] == "/v1/completions" and _Handler.requests[-1][1]["prompt"] == "plain"
    assert raw[0].text.startswith("answer from date_iso")


def test_backend_streams_sse_and_cuts_at_stop(server):
    be = OpenAICompatibleBackend(server + "/v1")
    chunks = list(be.stream("hi", "date_iso", GenerationConfig(stop=("END",))))
    assert chunks[-1].final and chunks[-1].completion_tokens == 6 and chunks[-1].finish_reason == "stop"
    assert "".join(c.text for c in chunks) == "answer from date_iso "
    assert _Handler.requests[-1][1]["model"] == "date_iso" and _Handler.requests[-1][1]["stream"] is True
    full = list(be.stream("hi", None, GenerationConfig()))
    assert "".join(c.text for c in full) == "answer from base END tail " and full[-1].finish_reason == "length"


def test_mixed_batch_is_sent_as_concurrent_requests(server):
    be = OpenAICompatibleBackend(server, adapters=ALL_TASKS)
    start = time.perf_counter()
    out = be.generate(["sleep:0.4"] * 4, ["sql", "sentiment", None, "date_iso"], GenerationConfig())
    took = time.perf_counter() - start
    assert [r.adapter for r in out] == ["sql", "sentiment", None, "date_iso"]  # in order, whatever finished first
    assert _Handler.max_in_flight >= 2 and took < 1.2, (took, _Handler.max_in_flight)


# --------------------------------------------------------------------------- typed errors
def test_unknown_adapter_is_the_servers_404(server):
    be = OpenAICompatibleBackend(server, adapters=["ghost"])
    with pytest.raises(UnknownAdapterError, match=r"does not serve adapter 'ghost' \(HTTP 404.*--lora-modules ghost="):
        be.generate(["x"], ["ghost"], GenerationConfig())
    with pytest.raises(UnknownAdapterError, match="ghost"):
        list(be.stream("x", "ghost", GenerationConfig()))
    listed = OpenAICompatibleBackend(server)  # learns the served models, and names them in the error
    assert listed.has_adapter("sql")
    _Handler.missing = {"sql"}
    with pytest.raises(UnknownAdapterError, match=r"it serves \[.*'sql'"):
        listed.generate(["x"], ["sql"], GenerationConfig())
    alias = OpenAICompatibleBackend(server, base_model_alias="llama", adapters=[])
    with pytest.raises(ServerError, match=r"base model 'llama'.*backbone=") as info:
        alias.generate(["x"], [None], GenerationConfig())
    assert not isinstance(info.value, UnknownAdapterError)


def test_server_down_and_timeout_are_typed(server):
    dead = OpenAICompatibleBackend(_dead_url(), max_retries=0, adapters=[])
    with pytest.raises(ServerUnavailableError, match=r"cannot reach .* is it running") as down:
        dead.generate(["x"], [None], GenerationConfig())
    assert isinstance(down.value, ServerError) and isinstance(down.value, ConnectionError)
    with pytest.raises(ServerUnavailableError):
        list(dead.stream("x", None, GenerationConfig()))
    with pytest.raises(ServerUnavailableError):  # reading /v1/models too
        OpenAICompatibleBackend(_dead_url(), max_retries=0).has_adapter("sql")
    _Handler.delay = 1.0
    slow = OpenAICompatibleBackend(server, timeout=0.2, max_retries=0, adapters=["slow"])
    with pytest.raises(ServerTimeoutError, match=r"within 0.2 s.*raise timeout=") as late:
        slow.generate(["x"], ["slow"], GenerationConfig())
    assert isinstance(late.value, ServerError) and isinstance(late.value, TimeoutError)


def test_retries_are_the_sdks(server):
    _Handler.fail_first = 2
    be = OpenAICompatibleBackend(server, max_retries=2, adapters=["flaky"])
    assert be.generate(["x"], ["flaky"], GenerationConfig())[0].text.startswith("answer from flaky")
    assert len(_Handler.requests) == 3  # two 503s retried by the SDK, then the answer
    _Handler.requests.clear()
    _Handler.fail_first = 1
    once = OpenAICompatibleBackend(server, max_retries=0, adapters=["flaky"])
    with pytest.raises(ServerError, match=r"HTTP 503: engine overloaded") as info:
        once.generate(["x"], ["flaky"], GenerationConfig())
    assert not isinstance(info.value, (ServerUnavailableError, ServerTimeoutError)) and len(_Handler.requests) == 1


def test_missing_openai_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(MissingDependencyError, match=r"ariadne-integrations\[openai\]"):
        OpenAICompatibleBackend("http://127.0.0.1:8000/v1")


def test_bad_settings_are_rejected():
    from ariadne_integrations.errors import InvalidInputError

    for kwargs in ({"timeout": 0}, {"max_retries": -1}, {"max_concurrency": 0}, {"endpoint": "x"}, {"base_model_alias": ""}):
        with pytest.raises(InvalidInputError):
            OpenAICompatibleBackend("http://127.0.0.1:8000", **kwargs)
    with pytest.raises(InvalidInputError, match="http"):
        OpenAICompatibleBackend("127.0.0.1:8000")


# --------------------------------------------------------------------------- the backend, async
async def test_async_backend_runs_on_the_loop(server):
    be = OpenAICompatibleBackend(server)
    assert await be.ahas_adapter("sql") and not await be.ahas_adapter("nope")
    start = time.perf_counter()
    out = await be.agenerate(["sleep:0.4"] * 4, ["sql", None, "sentiment", "date_iso"], GenerationConfig(stop=("END",)))
    took = time.perf_counter() - start
    assert [r.text for r in out] == ["answer from sql ", "answer from base ", "answer from sentiment ", "answer from date_iso "]
    assert out[0].stop_sequence == "END" and out[0].completion_tokens == 6
    assert _Handler.max_in_flight >= 2 and took < 1.2, (took, _Handler.max_in_flight)
    chunks = [c async for c in be.astream("hi", "sql", GenerationConfig(stop=("END",)))]
    assert "".join(c.text for c in chunks) == "answer from sql " and chunks[-1].final
    assert chunks[-1].prompt_tokens == 5 and chunks[-1].finish_reason == "stop"
    with pytest.raises(UnknownAdapterError, match=r"'ghost'.*it serves"):
        await be.agenerate(["x"], ["ghost"], GenerationConfig())
    with pytest.raises(UnknownAdapterError):
        _ = [c async for c in be.astream("x", "ghost", GenerationConfig())]
    dead = OpenAICompatibleBackend(_dead_url(), max_retries=0, adapters=[])
    with pytest.raises(ServerUnavailableError):
        await dead.agenerate(["x"], [None], GenerationConfig())
    await be.aclose()


async def test_async_error_cancels_the_rest_of_the_batch(server):
    be = OpenAICompatibleBackend(server, adapters=["ghost", "sql"])
    start = time.perf_counter()
    with pytest.raises(UnknownAdapterError):
        await be.agenerate(["x", "sleep:2"], ["ghost", "sql"], GenerationConfig())
    assert time.perf_counter() - start < 1.5  # the slow sibling was cancelled, not awaited


# --------------------------------------------------------------------------- the chain on the server
def test_same_chain_moves_to_the_server(server, routing_index, held_out):
    llm = AriadneLLM(index=routing_index, base_url=server, max_new_tokens=8)
    chain = PromptTemplate.from_template("{q}") | llm | StrOutputParser()
    outs = chain.batch([{"q": held_out["sql"][0]}, {"q": held_out["sentiment"][0]}])
    assert outs[0].startswith("answer from sql") and outs[1].startswith("answer from sentiment")
    assert sorted(p["model"] for _, p in _Handler.requests) == ["sentiment", "sql"]
    chat = ChatAriadne(index=routing_index, base_url=server)
    msg = chat.invoke(held_out["date_iso"][0])
    assert _Handler.requests[-1][1]["model"] == "date_iso"
    assert msg.response_metadata["adapter"] == "date_iso" and msg.usage_metadata["total_tokens"] == 11
    assert "".join(llm.stream(held_out["sql"][0], stop=["END"])) == "answer from sql "  # sync SSE, cut at the stop
    pieces = list(chat.stream(held_out["sentiment"][0]))
    assert "".join(str(c.content) for c in pieces) == "answer from sentiment END tail "
    assert pieces[-1].usage_metadata["total_tokens"] == 11 and pieces[-1].response_metadata["finish_reason"] == "length"


async def test_a_sync_only_backend_still_streams_and_generates_from_a_thread(routing_index, held_out, fake_backend):
    """A backend without async methods (the local runtime, FakeBackend) keeps the worker-thread path."""
    assert not is_async_backend(fake_backend)
    chat = ChatAriadne(index=routing_index, backend=fake_backend, coalesce_window_ms=0)
    assert not chat.generator.has_async_backend
    msg = await chat.ainvoke(held_out["sql"][0])
    assert msg.response_metadata["adapter"] == "sql"
    streamed = [c async for c in chat.astream(held_out["sql"][0])]
    assert "".join(str(c.content) for c in streamed).startswith("[sql]") and streamed[-1].response_metadata["adapter"] == "sql"
    llm = AriadneLLM(index=routing_index, backend=fake_backend)
    assert "".join([c async for c in llm.astream(held_out["date_iso"][0])]).startswith("[date_iso]")


def _no_threads(monkeypatch, *backends: Any) -> list[int]:
    """Make every sync and thread path fail; return the list the async backend records its thread ids in."""
    seen: list[int] = []

    def boom(*a, **k):
        raise AssertionError("a sync / thread path was taken")

    real_to_thread = asyncio.to_thread

    def to_thread(func, *a, **k):  # the SDK reads the platform name once in a thread; nothing of ours may
        if getattr(func, "__module__", "").startswith("openai."):
            return real_to_thread(func, *a, **k)
        raise AssertionError(f"asyncio.to_thread({func!r}) was called")

    monkeypatch.setattr(asyncio, "to_thread", to_thread)
    monkeypatch.setattr("ariadne_integrations.langchain.llm.aiter_in_thread", boom)
    monkeypatch.setattr("ariadne_integrations.langchain.chat_model.aiter_in_thread", boom)
    for be in backends:
        monkeypatch.setattr(be, "generate", boom)
        monkeypatch.setattr(be, "stream", boom)
        orig_gen, orig_stream = be.agenerate, be.astream

        async def agenerate(*a, _orig=orig_gen, **k):
            seen.append(threading.get_ident())
            return await _orig(*a, **k)

        def astream(*a, _orig=orig_stream, **k):
            seen.append(threading.get_ident())
            return _orig(*a, **k)

        monkeypatch.setattr(be, "agenerate", agenerate)
        monkeypatch.setattr(be, "astream", astream)
    return seen


async def test_async_chain_calls_do_not_hop_threads(server, routing_index, held_out, monkeypatch):
    llm = AriadneLLM(index=routing_index, base_url=server, max_new_tokens=8)
    chat = ChatAriadne(index=routing_index, base_url=server)
    for model in (llm, chat):
        model.generator.load()  # the router loads once (from disk, in a thread); everything after is on the loop
    seen = _no_threads(monkeypatch, llm.generator.backend, chat.generator.backend)
    loop_thread = threading.get_ident()

    out = await llm.ainvoke(held_out["sql"][0])
    assert out.startswith("answer from sql")
    outs = await llm.abatch([held_out["sentiment"][0], held_out["date_iso"][0]])
    assert outs[0].startswith("answer from sentiment") and outs[1].startswith("answer from date_iso")
    pieces = [c async for c in llm.astream(held_out["sql"][0], stop=["END"])]
    assert "".join(pieces) == "answer from sql "

    msg = await chat.ainvoke(held_out["date_iso"][0])
    assert msg.response_metadata["adapter"] == "date_iso" and msg.usage_metadata["total_tokens"] == 11
    msgs = await chat.abatch([held_out["sql"][0], held_out["sentiment"][0]])
    assert [m.response_metadata["adapter"] for m in msgs] == ["sql", "sentiment"]
    streamed = [c async for c in chat.astream(held_out["sentiment"][0])]
    assert "".join(str(c.content) for c in streamed) == "answer from sentiment END tail "
    assert streamed[-1].usage_metadata["total_tokens"] == 11 and streamed[-1].response_metadata["adapter"] == "sentiment"

    assert seen and set(seen) == {loop_thread}
    assert {p["model"] for _, p in _Handler.requests} == {"sql", "sentiment", "date_iso"}


class _Errors(BaseCallbackHandler):
    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.errors.append(error)


async def test_server_errors_go_through_langchains_error_path(server, routing_index, held_out):
    _Handler.missing = {"sql"}  # listed, but the server answers 404 for it
    backend = OpenAICompatibleBackend(server, adapters=ALL_TASKS)
    llm = AriadneLLM(index=routing_index, backend=backend)
    handler = _Errors()
    with pytest.raises(UnknownAdapterError, match="'sql'"):
        llm.invoke(held_out["sql"][0], config={"callbacks": [handler]})
    with pytest.raises(UnknownAdapterError, match="'sql'"):
        await llm.ainvoke(held_out["sql"][0], config={"callbacks": [handler]})
    chat = ChatAriadne(index=routing_index, backend=backend)
    with pytest.raises(UnknownAdapterError):
        _ = [c async for c in chat.astream(held_out["sql"][0], config={"callbacks": [handler]})]
    assert len(handler.errors) == 3 and all(isinstance(e, UnknownAdapterError) for e in handler.errors)
    down = ChatAriadne(index=routing_index, base_url=_dead_url(), max_retries=0)
    with pytest.raises(ServerUnavailableError):
        await down.ainvoke(held_out["sentiment"][0], config={"callbacks": [handler]})
    assert isinstance(handler.errors[-1], ServerUnavailableError)
