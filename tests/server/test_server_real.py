"""``ariadne serve`` end to end: the real demo index and backbone behind uvicorn on loopback, used by the
``openai`` SDK and LangChain's ``ChatOpenAI`` (``langchain-openai``).

Routed and forced answers, both endpoints, SSE streaming, 32 concurrent streaming clients that each get
their own answer (the one a lone call gives), evidence that concurrent requests share one batch, and
the bad-request / auth answers as the SDK sees them.
"""
from __future__ import annotations

import asyncio
from typing import Any, Iterator

import pytest

from tests.server.conftest import served

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.slow

KEY = "test-key-123"
SQL = "Translate to SQL: list the products in the kitchen category"
SENTIMENT = "Classify the sentiment: the blender broke after two days, a total waste of money"
LOAD_CLIENTS = 32
LOAD_TIMEOUT_S = 900.0
"""A bound against a hang, not an expectation: generous, so that a busy shared machine does not fail the test."""


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Any]]:
    """(base URL, the app's service) over the packaged demo index, with an API key."""
    from ariadne_integrations.demo import demo_index_path
    from ariadne_integrations.server import ServerLimits, create_app

    app = create_app(demo_index_path(), api_key=KEY, limits=ServerLimits(max_tokens=256))
    with served(app) as url:
        yield url, app.state.ariadne


@pytest.fixture(scope="module")
def client(server: tuple[str, Any]) -> Any:
    return openai.OpenAI(base_url=server[0], api_key=KEY, max_retries=0, timeout=120)


def _ask(client: Any, text: str, model: str = "ariadne", max_tokens: int = 24) -> Any:
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], max_tokens=max_tokens)


def test_routed_chat_answers_with_the_right_adapter(client: Any) -> None:
    sql = _ask(client, SQL)
    assert sql.model.endswith(":sql") and sql.model_extra["ariadne"]["adapter"] == "sql"
    assert sql.choices[0].message.content.replace('"', "'").rstrip(";").lower() == \
        "select name from products where category = 'kitchen'"
    sent = _ask(client, SENTIMENT, max_tokens=4)
    assert sent.model.endswith(":sentiment") and sent.choices[0].message.content == "negative"
    meta = sent.model_extra["ariadne"]
    assert meta["forced"] is False and meta["abstained"] is False and meta["score"] > 0
    assert sent.usage.prompt_tokens > 0 and sent.usage.completion_tokens >= 1


def test_forced_adapter_overrides_routing(client: Any) -> None:
    forced = _ask(client, SENTIMENT, model="sql", max_tokens=6)
    assert forced.model.endswith(":sql") and forced.model_extra["ariadne"]["forced"] is True
    assert [m.id for m in client.models.list()][:5] == ["ariadne", "sentiment", "support_intent", "date_iso", "sql"]


def test_completions_endpoint(client: Any) -> None:
    res = client.completions.create(model="ariadne", prompt=[SENTIMENT, SQL], max_tokens=24)
    assert [c.model_extra["ariadne"]["adapter"] for c in res.choices] == ["sentiment", "sql"]
    assert res.choices[0].text == "negative" and res.choices[1].text.upper().startswith("SELECT")


def test_streaming_through_the_sdk(client: Any) -> None:
    stream = client.chat.completions.create(model="ariadne", messages=[{"role": "user", "content": SQL}], max_tokens=24,
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == _ask(client, SQL).choices[0].message.content
    assert {c.model for c in chunks} == {chunks[0].model} and chunks[0].model.endswith(":sql")
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_langchain_chat_openai_against_the_server(server: tuple[str, Any]) -> None:
    chat_openai = pytest.importorskip("langchain_openai").ChatOpenAI
    llm = chat_openai(base_url=server[0], api_key=KEY, model="ariadne", max_tokens=4, temperature=0, max_retries=0)
    msg = llm.invoke(SENTIMENT)
    assert msg.content == "negative" and msg.response_metadata["model_name"].endswith(":sentiment")
    assert "".join(str(c.content) for c in llm.stream(SENTIMENT)) == "negative"


def test_bad_requests_and_auth_through_the_sdk(server: tuple[str, Any], client: Any) -> None:
    with pytest.raises(openai.NotFoundError) as nf:
        _ask(client, SQL, model="gpt-4o")
    assert nf.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="ariadne", messages=[], max_tokens=4)
    with pytest.raises(openai.BadRequestError):
        _ask(client, SQL, max_tokens=100_000)
    for key in ("wrong", KEY + "x"):
        with pytest.raises(openai.AuthenticationError):
            _ask(openai.OpenAI(base_url=server[0], api_key=key, max_retries=0), SQL)
    import httpx

    resp = httpx.post(server[0] + "/chat/completions", content=b"{oops", headers={"Authorization": f"Bearer {KEY}"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_json"


def _load_prompts() -> list[str]:
    """32 distinct prompts whose answers differ (dates of 24 different years: with 4 tokens the answer is the
    year) or whose adapters differ (the other tasks)."""
    dates = [f"Convert the date to ISO format: The invoice is due on March 3, {y}" for y in range(2000, 2024)]
    others = ["Classify the sentiment: great phone", "Classify the sentiment: bad lamp.",
              "Translate to SQL: show products with a price below 20", "Translate to SQL: show products with a price below 40",
              "Hi, I forgot my password and cannot log in.", "Where is my parcel? Order #12345 has not arrived.",
              "Customer message: I was charged twice for order #48213, I want my money back", SENTIMENT]
    return dates + others


def test_32_concurrent_streams_each_get_their_own_answer_and_requests_coalesce(server: tuple[str, Any], client: Any) -> None:
    url, svc = server
    prompts = _load_prompts()
    assert len(prompts) == LOAD_CLIENTS == len(set(prompts))
    max_tokens = 4
    alone = [_ask(client, p, max_tokens=max_tokens) for p in prompts]  # the reference: one call at a time
    expected = [(r.choices[0].message.content, r.model_extra["ariadne"]["adapter"]) for r in alone]
    assert [a for _, a in expected[:24]] == ["date_iso"] * 24
    assert len({t for t, _ in expected[:24]}) == 24  # distinct answers: a mix-up would show

    aclient = openai.AsyncOpenAI(base_url=url, api_key=KEY, max_retries=0, timeout=LOAD_TIMEOUT_S)

    async def one_stream(p: str) -> tuple[str, str, int]:
        stream = await aclient.chat.completions.create(model="ariadne", messages=[{"role": "user", "content": p}],
                                                       max_tokens=max_tokens, stream=True)
        text, adapter, n = "", "", 0
        async for chunk in stream:
            n += 1
            extra = chunk.model_extra.get("ariadne") if chunk.model_extra else None
            adapter = extra["adapter"] if extra else adapter
            text += (chunk.choices[0].delta.content or "") if chunk.choices else ""
        return text, adapter, n

    async def one_call(p: str) -> tuple[str, str]:
        r = await aclient.chat.completions.create(model="ariadne", messages=[{"role": "user", "content": p}], max_tokens=max_tokens)
        return r.choices[0].message.content or "", r.model_extra["ariadne"]["adapter"]

    async def load() -> tuple[list[Any], list[Any], int]:
        streams = await asyncio.wait_for(asyncio.gather(*(one_stream(p) for p in prompts)), LOAD_TIMEOUT_S)
        coalescer = svc.gen.coalescer
        before = coalescer.stats.generate_calls
        calls = await asyncio.wait_for(asyncio.gather(*(one_call(p) for p in prompts[:16])), LOAD_TIMEOUT_S)
        return streams, calls, coalescer.stats.generate_calls - before

    streams, calls, generate_calls = asyncio.run(load())
    assert [(t, a) for t, a, _ in streams] == expected  # none lost, none mixed up
    assert all(n >= 3 for _, _, n in streams)  # streamed: a role chunk, text, a final chunk
    assert calls == expected[:16]
    assert generate_calls < 16, f"16 concurrent requests took {generate_calls} backend generate calls"
    assert svc.active == 0
