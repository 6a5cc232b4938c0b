"""OpenAICompatibleBackend against a tiny fake OpenAI-compatible server on 127.0.0.1 (vLLM-style
multi-LoRA: the adapter name is the request's ``model``), and the same chain moved onto it."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate

from ariadne_integrations.errors import ServerError, UnknownAdapterError
from ariadne_integrations.langchain import AriadneLLM, ChatAriadne
from ariadne_integrations.runtime.generation import GenerationBackend, GenerationConfig
from ariadne_integrations.runtime.openai_backend import OpenAICompatibleBackend

SERVED = ["base", "sentiment", "support_intent", "date_iso", "sql"]


class _Handler(BaseHTTPRequestHandler):
    requests: list[tuple[str, dict]] = []

    def log_message(self, *args):  # keep test output clean
        pass

    def _json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in SERVED]})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self):
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append((self.path, payload))
        model = payload["model"]
        if model not in SERVED:
            return self._json(404, {"error": {"message": f"The model `{model}` does not exist."}})
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
        choice = {"index": 0, "finish_reason": "stop"}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        self._json(200, {"choices": [choice], "model": model,
                         "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11}})


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _clear():
    _Handler.requests.clear()


def test_backend_sends_routed_adapter_as_model(server):
    be = OpenAICompatibleBackend(server, api_key="k")
    assert isinstance(be, GenerationBackend)
    assert be.has_adapter("sql") and not be.has_adapter("nope")
    cfg = GenerationConfig(max_new_tokens=9, temperature=0.2, stop=("END",))
    out = be.generate(["a", [{"role": "user", "content": "b"}], "c"], ["sql", None, "sentiment"], cfg)
    assert [r.text for r in out] == ["answer from sql ", "answer from base ", "answer from sentiment "]
    assert [r.adapter for r in out] == ["sql", None, "sentiment"]
    assert out[0].prompt_tokens == 5 and out[0].completion_tokens == 6 and out[0].stop_sequence == "END"
    sent = {p["messages"][-1]["content"]: p for _, p in _Handler.requests}
    assert sent["a"]["model"] == "sql" and sent["b"]["model"] == "base" and sent["c"]["model"] == "sentiment"
    assert sent["a"]["max_tokens"] == 9 and sent["a"]["stop"] == ["END"] and sent["a"]["temperature"] == 0.2
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


def test_backend_errors(server):
    be = OpenAICompatibleBackend(server, adapters=["ghost"])
    with pytest.raises(UnknownAdapterError, match="ghost"):
        be.generate(["x"], ["ghost"], GenerationConfig())
    dead = OpenAICompatibleBackend("http://127.0.0.1:9", timeout=2)
    with pytest.raises(ServerError, match="cannot reach"):
        dead.generate(["x"], [None], GenerationConfig())


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
