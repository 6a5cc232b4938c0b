"""The server's contract without a model (FakeBackend): bad requests, auth, limits, SSE shape, CLI.

Every bad request must be a 4xx with an OpenAI-style error body, never a 500; the key is checked on
every route; bodies, ``max_tokens`` and concurrent requests are bounded; a model name never reaches a
file path. The real backbone and the OpenAI clients are exercised in ``test_server_real.py``.
"""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ariadne_integrations.core.generator import RoutedGenerator
from ariadne_integrations.errors import AdapterLoadError, InvalidInputError, UnknownAdapterError
from ariadne_integrations.server import ServerLimits, bind_warning, create_app, is_loopback
from ariadne_integrations.server.errors import status_of
from ariadne_integrations.server.security import KeyCheck
from ariadne_integrations.testing import FakeBackend

ADAPTERS = ["sql", "sentiment"]
KEY = "s3cret-key"
CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"


def _gen(backend: Any = None) -> RoutedGenerator:
    return RoutedGenerator(None, backend or FakeBackend(ADAPTERS), adapter_names=ADAPTERS, coalesce_window_ms=0)


def _client(backend: Any = None, **kwargs: Any) -> TestClient:
    return TestClient(create_app(_gen(backend), **kwargs), raise_server_exceptions=False)


def _chat(model: str = "sql", text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def _is_openai_error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"] and err["type"]
    return err


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend(ADAPTERS)


@pytest.fixture
def client(backend: FakeBackend) -> Any:
    with _client(backend, limits=ServerLimits(max_tokens=64, max_body_bytes=4000, max_prompts=4)) as c:
        yield c


# ---------------------------------------------------------------------- happy paths (shape)
def test_models_lists_router_adapters_and_backbone(client: TestClient) -> None:
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert ids == ["ariadne", "sql", "sentiment", "fake-backbone"]
    assert client.get("/v1/models/sql").json()["id"] == "sql"
    _is_openai_error(client.get("/v1/models/nope"), 404)


def test_chat_reports_the_adapter_in_model_header_and_extra_field(client: TestClient, backend: FakeBackend) -> None:
    r = client.post(CHAT, json=_chat("sentiment", "great", max_tokens=8))
    body = r.json()
    assert r.status_code == 200 and body["object"] == "chat.completion"
    assert body["model"] == "fake-backbone:sentiment" and r.headers["x-ariadne-adapter"] == "sentiment"
    assert body["ariadne"]["adapter"] == "sentiment" and body["ariadne"]["forced"] is True
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "[sentiment] great"}
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    assert backend.calls[-1][2].max_new_tokens == 8 and backend.calls[-1][2].temperature == 0.0
    # the model a response reports, sent back, forces the same adapter; the backbone's name is the bare model
    again = client.post(CHAT, json=_chat(body["model"], "great")).json()
    assert again["ariadne"]["adapter"] == "sentiment"
    bare = client.post(CHAT, json=_chat("fake-backbone", "x")).json()
    assert bare["model"] == "fake-backbone" and bare["choices"][0]["message"]["content"] == "[base] x"


def test_completions_answers_each_prompt_of_a_list_in_one_call(client: TestClient, backend: FakeBackend) -> None:
    body = client.post(COMPLETIONS, json={"model": "sql", "prompt": ["a", "b"], "max_tokens": 4}).json()
    assert [c["text"] for c in body["choices"]] == ["[sql] a", "[sql] b"]
    assert [c["index"] for c in body["choices"]] == [0, 1] and body["model"] == "fake-backbone:sql"
    assert len(backend.calls) == 1 and backend.calls[0][0] == ["a", "b"]


def _events(resp: Any) -> list[Any]:
    lines = [ln[len("data: "):] for ln in resp.text.split("\n\n") if ln.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(x) for x in lines[:-1]]


@pytest.mark.parametrize("route", [CHAT, COMPLETIONS])
def test_stream_is_openai_sse_with_routing_metadata_and_usage(client: TestClient, route: str) -> None:
    payload = _chat("sql", "one two three") if route == CHAT else {"model": "sql", "prompt": "one two three"}
    r = client.post(route, json={**payload, "stream": True, "stream_options": {"include_usage": True}})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-ariadne-adapter"] == "sql"
    events = _events(r)
    assert {e["model"] for e in events} == {"fake-backbone:sql"} and len({e["id"] for e in events}) == 1
    if route == CHAT:
        text = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
        assert events[0]["ariadne"]["adapter"] == "sql"
    else:
        text = "".join(e["choices"][0]["text"] for e in events if e["choices"])
    assert text == "[sql] one two three"
    assert events[-2]["choices"][0]["finish_reason"] == "stop" and events[-2]["ariadne"]["completion_tokens"] > 0
    assert events[-1]["choices"] == [] and events[-1]["usage"]["total_tokens"] > 0
    assert client.app.state.ariadne.active == 0  # the stream gave its slot back


# ---------------------------------------------------------------------- bad requests: 4xx + OpenAI body, never 500
BAD_CHAT = [
    ("unknown model", _chat("gpt-4o"), 404, "model"),
    ("empty messages", {"model": "sql", "messages": []}, 400, "messages"),
    ("only empty messages", {"model": "sql", "messages": [{"role": "user", "content": "  "}]}, 400, "messages"),
    ("max_tokens over the limit", _chat(max_tokens=65), 400, "max_tokens"),
    ("max_completion_tokens over the limit", _chat(max_completion_tokens=10_000), 400, "max_tokens"),
    ("max_tokens zero", _chat(max_tokens=0), 400, "max_tokens"),
    ("max_tokens a string", _chat(max_tokens="5"), 400, "max_tokens"),
    ("temperature out of range", _chat(temperature=9), 400, "temperature"),
    ("missing model", {"messages": [{"role": "user", "content": "x"}]}, 400, "model"),
    ("messages not a list", {"model": "sql", "messages": "hi"}, 400, "messages"),
    ("unknown role", {"model": "sql", "messages": [{"role": "wizard", "content": "x"}]}, 400, "messages[0].role"),
    ("image part", {"model": "sql", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, 400,
     "messages[0].content"),
    ("n > 1", _chat(n=2), 400, "n"),
    ("tools", _chat(tools=[{"type": "function", "function": {"name": "f"}}]), 400, "tools"),
    ("json_object", _chat(response_format={"type": "json_object"}), 400, "response_format"),
    ("empty stop string", _chat(stop=[""]), 400, None),
    ("too many stops", _chat(stop=[str(i) for i in range(17)]), 400, "stop"),
]


@pytest.mark.parametrize(("name", "payload", "status", "param"), BAD_CHAT, ids=[c[0] for c in BAD_CHAT])
def test_bad_chat_request_is_a_4xx_with_openai_error_body(client: TestClient, backend: FakeBackend, name: str,
                                                          payload: dict[str, Any], status: int, param: str | None) -> None:
    err = _is_openai_error(client.post(CHAT, json=payload), status)
    if param is not None:
        assert err["param"] == param
    assert not backend.calls  # nothing reached the model


BAD_COMPLETIONS = [
    ("empty prompt list", {"model": "sql", "prompt": []}, 400),
    ("token ids", {"model": "sql", "prompt": [1, 2, 3]}, 400),
    ("too many prompts", {"model": "sql", "prompt": ["a"] * 5}, 400),
    ("stream of two prompts", {"model": "sql", "prompt": ["a", "b"], "stream": True}, 400),
    ("whitespace prompt", {"model": "sql", "prompt": " "}, 400),
    ("echo", {"model": "sql", "prompt": "a", "echo": True}, 400),
    ("unknown model", {"model": "davinci", "prompt": "a"}, 404),
]


@pytest.mark.parametrize(("name", "payload", "status"), BAD_COMPLETIONS, ids=[c[0] for c in BAD_COMPLETIONS])
def test_bad_completion_request_is_a_4xx(client: TestClient, backend: FakeBackend, name: str, payload: Any, status: int) -> None:
    _is_openai_error(client.post(COMPLETIONS, json=payload), status)
    assert not backend.calls


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2]", b'"text"', b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000])
def test_malformed_json_is_a_400(client: TestClient, body: bytes) -> None:
    resp = client.post(CHAT, content=body[:3999], headers={"content-type": "application/json"})
    assert _is_openai_error(resp, 400)["code"] == "invalid_json"


def test_unknown_route_and_wrong_method_have_openai_bodies(client: TestClient) -> None:
    _is_openai_error(client.get("/v1/nothing"), 404)
    _is_openai_error(client.get(CHAT), 405)


@pytest.mark.parametrize("model", ["../adapters/sql", "/etc/passwd", "sql/../../etc", "fake-backbone:../sql", "./sql",
                                   "C:\\adapters\\sql", "file:///etc/passwd", "sql\x00"])
def test_a_model_name_never_reaches_a_file_path(client: TestClient, backend: FakeBackend, model: str) -> None:
    assert _is_openai_error(client.post(CHAT, json=_chat(model)), 404)["code"] == "model_not_found"
    assert not backend.calls


def test_a_server_failure_is_a_500_that_leaks_nothing() -> None:
    with _client(FakeBackend(ADAPTERS, fail_on="boom")) as c:
        err = _is_openai_error(c.post(CHAT, json=_chat("sql", "boom secret-detail")), 500)
        assert "secret" not in err["message"] and err["type"] == "server_error"
        assert c.post(CHAT, json=_chat("sql", "fine")).status_code == 200  # the server keeps serving


def test_typed_errors_map_to_statuses() -> None:
    assert status_of(UnknownAdapterError("x")) == (404, "model_not_found")
    assert status_of(InvalidInputError("x"))[0] == 400
    assert status_of(AdapterLoadError("x"))[0] == 503


# ---------------------------------------------------------------------- auth
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"},
                                     {"Authorization": KEY}, {"Authorization": "Bearer"}, {"Authorization": f"Bearer {KEY}x"}])
def test_every_route_needs_the_key(headers: dict[str, str]) -> None:
    with _client(api_key=KEY) as c:
        for method, path in (("GET", "/v1/models"), ("GET", "/health"), ("GET", "/nope"), ("POST", CHAT), ("POST", COMPLETIONS)):
            resp = c.request(method, path, headers=headers, json=_chat())
            assert _is_openai_error(resp, 401)["code"] == "invalid_api_key", (method, path)
            assert resp.headers["www-authenticate"] == "Bearer"


def test_the_right_key_is_let_through() -> None:
    with _client(api_key=KEY) as c:
        ok = {"Authorization": f"Bearer {KEY}"}
        assert c.get("/v1/models", headers=ok).status_code == 200
        assert c.post(CHAT, headers={"authorization": f"bearer {KEY}"}, json=_chat()).status_code == 200


def test_key_check_is_constant_time_over_hashes() -> None:
    check = KeyCheck(KEY)
    assert check.allows(f"Bearer {KEY}".encode()) and check.allows(f"  bearer   {KEY} ".encode())
    assert not check.allows(None) and not check.allows(b"") and not check.allows(KEY.encode())
    with pytest.raises(ValueError):
        KeyCheck("  ")


def test_without_a_key_no_header_is_needed(client: TestClient) -> None:
    assert client.get("/v1/models").status_code == 200


# ---------------------------------------------------------------------- bind address
@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.1.2.3", True), ("localhost", True), ("::1", True),
                                                 ("[::1]", True), ("0.0.0.0", False), ("::", False), ("192.168.1.5", False),
                                                 ("example.com", False), ("", False)])
def test_loopback_check(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert (bind_warning(host, None) is None) is loopback
    assert bind_warning(host, KEY) is None  # a key silences it


# ---------------------------------------------------------------------- limits
def test_declared_body_over_the_limit_is_413(client: TestClient, backend: FakeBackend) -> None:
    payload = _chat("sql", "x" * 5000)
    err = _is_openai_error(client.post(CHAT, json=payload), 413)
    assert err["code"] == "body_too_large" and not backend.calls


def test_chunked_body_over_the_limit_is_413_while_reading(client: TestClient) -> None:
    def chunks() -> Any:
        for _ in range(10):
            yield b" " * 1000

    _is_openai_error(client.post(CHAT, content=chunks(), headers={"content-type": "application/json"}), 413)


class CharTokenizer:
    """One token per character; no chat template."""

    chat_template = None

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": list(range(len(text)))}


def test_prompt_token_limit() -> None:
    backend = FakeBackend(ADAPTERS)
    backend.tokenizer = CharTokenizer()  # type: ignore[attr-defined]
    with _client(backend, limits=ServerLimits(max_prompt_tokens=10)) as c:
        assert c.post(COMPLETIONS, json={"model": "sql", "prompt": "short"}).status_code == 200
        err = _is_openai_error(c.post(COMPLETIONS, json={"model": "sql", "prompt": "far too long a prompt"}), 400)
        assert err["code"] == "context_length_exceeded"


class Gate(FakeBackend):
    """Generation waits until the test opens the gate (requests held in progress)."""

    def __init__(self) -> None:
        super().__init__(ADAPTERS)
        self.gate = threading.Event()

    def generate(self, prompts: Any, adapters: Any, config: Any) -> Any:
        assert self.gate.wait(30)
        return super().generate(prompts, adapters, config)


def test_requests_over_max_concurrent_get_429_at_once() -> None:
    backend = Gate()
    with _client(backend, limits=ServerLimits(max_concurrent=2)) as c, ThreadPoolExecutor(2) as pool:
        svc = c.app.state.ariadne
        held = [pool.submit(c.post, CHAT, json=_chat("sql", f"held {i}")) for i in range(2)]
        deadline = time.monotonic() + 20
        while svc.active < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert svc.active == 2
        started = time.monotonic()
        over = c.post(CHAT, json=_chat("sql", "one too many"))
        assert time.monotonic() - started < 5  # refused at once, not queued
        assert _is_openai_error(over, 429)["type"] == "rate_limit_error" and over.headers["retry-after"] == "1"
        backend.gate.set()
        assert [f.result(timeout=30).status_code for f in held] == [200, 200]
        assert svc.active == 0
        assert c.post(CHAT, json=_chat("sql", "after")).status_code == 200


def test_limits_are_validated() -> None:
    with pytest.raises(InvalidInputError):
        ServerLimits(max_concurrent=0)
    with pytest.raises(InvalidInputError):
        ServerLimits(max_tokens=10, default_max_tokens=64)


# ---------------------------------------------------------------------- CLI
def test_cli_serve_passes_limits_and_warns_on_a_public_bind(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from typer.testing import CliRunner

    import ariadne_integrations.server.app as server_app
    from ariadne_integrations.cli import app, register_commands
    from ariadne_integrations.demo import demo_index_path

    register_commands()
    seen: dict[str, Any] = {}
    monkeypatch.setattr(server_app, "serve", lambda index, **kw: seen.update(index=index, **kw))
    runner = CliRunner()
    idx = str(demo_index_path())
    res = runner.invoke(app, ["serve", "--index", idx, "--host", "0.0.0.0", "--port", "9001", "--max-concurrent", "3",
                              "--max-tokens-limit", "100", "--max-body-bytes", "5000"], env={"ARIADNE_API_KEY": ""})
    assert res.exit_code == 0, res.output
    assert "warning:" in res.output and "without an API key" in res.output
    assert seen["host"] == "0.0.0.0" and seen["port"] == 9001 and seen["api_key"] is None
    assert seen["limits"] == ServerLimits(max_concurrent=3, max_tokens=100, max_body_bytes=5000)
    res = runner.invoke(app, ["serve", "--index", idx, "--host", "0.0.0.0"], env={"ARIADNE_API_KEY": KEY})
    assert res.exit_code == 0 and "warning:" not in res.output and seen["api_key"] == KEY
    res = runner.invoke(app, ["serve", "--index", idx], env={"ARIADNE_API_KEY": ""})
    assert "warning:" not in res.output and seen["host"] == "127.0.0.1" and seen["port"] == 8000
    res = runner.invoke(app, ["serve", "--index", str(tmp_path)])
    assert res.exit_code == 2  # not an index: one error line (create_app is not mocked away: serve checks first)


def test_concurrent_requests_share_one_mixed_adapter_batch() -> None:
    backend = FakeBackend(ADAPTERS)
    gen = RoutedGenerator(None, backend, adapter_names=ADAPTERS, coalesce_window_ms=200)
    n = 12
    with TestClient(create_app(gen)) as c, ThreadPoolExecutor(n) as pool:
        barrier = threading.Barrier(n)

        def call(i: int) -> Any:
            barrier.wait()
            return c.post(CHAT, json=_chat(ADAPTERS[i % 2], f"prompt {i}")).json()

        bodies = list(pool.map(call, range(n)))
    assert [b["choices"][0]["message"]["content"] for b in bodies] == [f"[{ADAPTERS[i % 2]}] prompt {i}" for i in range(n)]
    assert [b["ariadne"]["adapter"] for b in bodies] == [ADAPTERS[i % 2] for i in range(n)]
    assert len(backend.calls) < n  # coalesced: fewer generate calls than requests
    assert any(set(adapters) == set(ADAPTERS) for _, adapters, _ in backend.calls)  # a mixed-adapter batch


@pytest.mark.parametrize("body", [b'{"model": "sql", "messages": [{"role": "user", "content": "x"}], "temperature": NaN}',
                                  b'{"model": "sql", "messages": [{"role": "user", "content": "x"}], "top_p": Infinity}',
                                  b'{"model": "sql", "messages": [{"role": "user", "content": "x"}], "seed": 1e400}',
                                  b'{"model": "sql", "messages": [{"role": "user", "content": "x"}], "seed": 99999999999999999999999}',
                                  b'{"model": "sql", "messages": [{"role": "user", "content": "\\ud800"}]}',
                                  b'{"model": "\\ud800", "messages": [{"role": "user", "content": "x"}]}'])
def test_odd_values_are_4xx_not_500(client: TestClient, body: bytes) -> None:
    resp = client.post(CHAT, content=body, headers={"content-type": "application/json"})
    assert 400 <= resp.status_code < 500 and set(resp.json()["error"]) == {"message", "type", "param", "code"}, resp.text
