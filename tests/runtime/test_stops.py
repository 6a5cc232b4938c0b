"""The shared stop-string cutting and streaming hold-back (no model needed), and the server backend using it
(through the openai SDK against a loopback server that streams given pieces and ignores `stop`)."""
from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ariadne_integrations.runtime.generation import GenerationConfig
from ariadne_integrations.runtime.openai_backend import OpenAICompatibleBackend
from ariadne_integrations.runtime.stops import StopHoldBack, cut_at_stop, stop_prefix_len


def run(pieces: list[str], stops: tuple[str, ...]) -> tuple[list[str], str, str | None]:
    """(what each feed returned, what flush returned, the stop found)."""
    held = StopHoldBack(stops)
    outs = [held.feed(p) for p in pieces]
    return outs, held.flush(), held.found


def test_cut_at_stop_earliest_and_first_listed_on_ties():
    assert cut_at_stop("abc STOP def END", ("END", "STOP")) == ("abc ", "STOP")
    assert cut_at_stop("abc", ("x",)) == ("abc", None)
    assert cut_at_stop("xEND", ("EN", "END")) == ("x", "EN")
    assert cut_at_stop("xEND", ("END", "EN")) == ("x", "END")
    assert cut_at_stop("abc", ()) == ("abc", None)


@pytest.mark.parametrize("text, stops, expected", [
    ("hello E", ("END",), 1),
    ("hello EN", ("END",), 2),
    ("hello END", ("END",), 0),  # a whole stop string is cut, not held
    ("hello", ("END",), 0),
    ("ab#", ("###", "#!"), 1),
    ("ab##", ("###", "#!"), 2),
    ("x\n", ("\n\nUser:",), 1),
    ("x\n\nUs", ("\n\nUser:",), 4),
    ("anything", (), 0),
])
def test_stop_prefix_len(text, stops, expected):
    assert stop_prefix_len(text, stops) == expected


def test_stop_split_across_pieces_is_never_emitted():
    outs, rest, found = run(["Hello wor", "ld E", "N", "D tail", " more"], ("END",))
    assert outs == ["Hello wor", "ld ", "", "", ""]  # text before the stop goes out as soon as it is safe
    assert rest == "" and found == "END"
    assert "".join(outs) + rest == "Hello world "


def test_stop_split_char_by_char():
    text = "one two STOP three"
    outs, rest, found = run(list(text), ("STOP",))
    assert "".join(outs) + rest == "one two "
    assert found == "STOP"
    assert not any("S" in o for o in outs)


def test_hold_back_releases_a_false_start():
    outs, rest, found = run(["see E", "Nough", " E"], ("END",))
    assert outs == ["see ", "ENough", " "]  # "E" turned out not to start "END": released with the next piece
    assert rest == "E" and found is None  # the stream ended: the held "E" is text after all


def test_hold_back_never_withholds_what_cannot_start_a_stop():
    # none of these end with a start of "END" or "\n\nUser:": everything goes out at once
    for piece in ["abc", "x\nEy", "ENx", "NDE!", "User:"]:
        outs, rest, _ = run([piece], ("END", "\n\nUser:"))
        assert outs == [piece] and rest == ""
    outs, rest, found = run(["plain text", " more"], ())
    assert outs == ["plain text", " more"] and rest == "" and found is None


def test_nothing_after_the_stop_even_when_pieces_keep_coming():
    held = StopHoldBack(("###",))
    assert held.feed("a##") == "a"
    assert held.feed("#b") == ""
    assert held.found == "###"
    assert held.feed("more text") == "" and held.flush() == ""


@pytest.mark.parametrize("seed", range(30))
def test_random_splits_match_cutting_the_whole_text(seed):
    rng = random.Random(seed)
    stops = ("END", "\n\n", "###")  # no stop lies inside another: the cut is the same however the pieces break
    text = "".join(rng.choice(["E", "N", "D", "#", "\n", "x", " ", "EN", "##"]) for _ in range(rng.randint(5, 40)))
    cuts = sorted(rng.sample(range(1, len(text)), k=min(len(text) - 1, rng.randint(0, 10))))
    pieces = [text[i:j] for i, j in zip([0, *cuts], [*cuts, len(text)])]
    held = StopHoldBack(stops)
    emitted, consumed = "", ""
    for piece in pieces:
        emitted += held.feed(piece)
        consumed += piece
        if held.found is None:
            # exactly the part that could still start a stop string is held back, no more
            assert emitted == consumed[: len(consumed) - stop_prefix_len(consumed, stops)]
    emitted += held.flush()
    assert (emitted, held.found) == cut_at_stop(text, stops)


# ---------------------------------------------------------------- the server backend uses the same helper


class _SSE(BaseHTTPRequestHandler):
    """Answers every POST with server-sent events made from ``pieces`` (and ignores ``stop``)."""

    pieces: list[str] = []
    server_finish = "length"
    sent: list[dict] = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        cls = type(self)
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls.sent.append(payload)
        chat = self.path.endswith("/chat/completions")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        events = [{"choices": [{"index": 0, "delta": {"content": p}} if chat else {"index": 0, "text": p}]} for p in cls.pieces]
        events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": cls.server_finish}]})
        events.append({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 7}})
        self.wfile.write("".join(f"data: {json.dumps(e)}\n\n" for e in events).encode() + b"data: [DONE]\n\n")


@pytest.fixture(scope="module")
def sse_url():
    pytest.importorskip("openai", reason="base_url= needs the [openai] extra")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _SSE)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def _backend_stream(url: str, pieces: list[str], stops: tuple[str, ...], *, chat: bool = True,
                    server_finish: str = "length"):
    """OpenAICompatibleBackend.stream (the openai SDK's SSE client) over events made from ``pieces``."""
    be = OpenAICompatibleBackend(url, adapters=["sql"])
    _SSE.pieces, _SSE.server_finish, _SSE.sent = list(pieces), server_finish, []
    cfg = GenerationConfig(stop=stops, apply_chat_template=chat)
    chunks = list(be.stream("hi", "sql", cfg))
    assert _SSE.sent and _SSE.sent[0]["stop"] == list(stops) and _SSE.sent[0]["model"] == "sql"
    return chunks


@pytest.mark.parametrize("chat", [True, False])
@pytest.mark.parametrize("pieces, stops", [
    (["Hello wor", "ld E", "N", "D tail", " more"], ("END",)),
    (["see E", "Nough", " E"], ("END",)),
    (list("one two STOP three"), ("STOP", "\n\n")),
    (["a##", "#b"], ("###",)),
])
def test_openai_backend_streams_exactly_what_the_helper_emits(sse_url, pieces, stops, chat):
    chunks = _backend_stream(sse_url, pieces, stops, chat=chat)
    outs, rest, found = run(pieces, stops)
    assert [c.text for c in chunks[:-1]] == [o for o in outs if o]
    final = chunks[-1]
    assert final.final and not any(c.final for c in chunks[:-1])
    assert final.text == rest
    assert final.finish_reason == ("stop" if found else "length")
    assert final.prompt_tokens == 3 and final.completion_tokens == 7  # usage still read after a stop


def test_openai_backend_stream_split_stop_concrete(sse_url):
    chunks = _backend_stream(sse_url, ["answer fr", "om E", "N", "D tail"], ("END",))
    assert [c.text for c in chunks] == ["answer fr", "om ", ""]
    assert chunks[-1].finish_reason == "stop"
