"""A GenerationBackend over an OpenAI-compatible multi-LoRA server (vLLM, LoRAX, llama.cpp server).

Why: the same routed chain should move from the in-process runtime to a serving engine without
code changes. Those engines serve each LoRA adapter under its own model name
(vLLM ``--enable-lora --lora-modules sql=/path``, LoRAX adapter ids, llama.cpp server model
aliases), so the routed adapter name simply becomes the request's ``model``; ``None`` (abstained)
goes to the base model alias. The server batches concurrent requests itself (continuous batching),
so a mixed batch is sent as concurrent requests (a thread pool for :meth:`generate`, ``asyncio``
tasks for :meth:`agenerate`).

The HTTP client is the official ``openai`` SDK (extra ``openai``): its retries with back-off, timeouts,
server-sent-event streaming and typed errors, sync (``OpenAI``) and truly async (``AsyncOpenAI``).
What stays here: adapter -> served model name, the base model for abstained queries, cutting at stop
strings a server ignored, usage counts from the server's response, ``response_format`` for a JSON
schema, and this package's typed errors (an unknown adapter is the server's 404 for that model).
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, AsyncIterator, Iterable, Iterator, Sequence

from ariadne_integrations.errors import (
    InvalidInputError,
    MissingDependencyError,
    ServerError,
    ServerTimeoutError,
    ServerUnavailableError,
    UnknownAdapterError,
    printable,
)
from ariadne_integrations.runtime.generation import GenerationConfig, GenerationResult, Prompt, StreamChunk
from ariadne_integrations.runtime.stops import StopHoldBack, cut_at_stop

logger = logging.getLogger(__name__)

__all__ = ["OpenAICompatibleBackend", "ServerError", "require_openai", "response_format"]

CHAT = "/chat/completions"
COMPLETIONS = "/completions"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 2  # the openai SDK's own default
MODELS = "GET /models"
NO_API_KEY = "EMPTY"  # what local servers expect when they were started without --api-key


def require_openai() -> Any:
    """The ``openai`` module, or :class:`MissingDependencyError` naming the extra that installs it."""
    try:
        import openai
    except ImportError as exc:
        raise MissingDependencyError(
            "base_url= (OpenAICompatibleBackend) talks to the server through the official openai SDK, which is not "
            "installed: pip install 'ariadne-integrations[openai]'"
        ) from exc
    return openai


def _messages(prompt: Prompt) -> list[dict[str, str]]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": m["role"], "content": m["content"]} for m in prompt]


_NAME_RE = re.compile(r"[^a-zA-Z0-9_-]+")


def response_format(json_schema: str) -> dict[str, Any]:
    """OpenAI's ``response_format`` for a JSON schema (vLLM, SGLang and llama.cpp's server accept it;
    they constrain decoding to the schema). The name comes from the schema's title."""
    schema = json.loads(json_schema)
    name = _NAME_RE.sub("_", str(schema.get("title") or "response")).strip("_")[:64] or "response"
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def _as_text(prompt: Prompt) -> str:
    if isinstance(prompt, str):
        return prompt
    return "\n".join(m["content"] for m in prompt)


def _transport_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(timeout errors, other transport errors) of the HTTP libraries the SDK may use (httpx / httpx2):
    raised while a stream's body is read, after the SDK handed the response over."""
    timeouts: list[type[BaseException]] = []
    transport: list[type[BaseException]] = []
    for name in ("httpx2", "httpx"):
        try:
            mod = __import__(name)
        except ImportError:
            continue
        timeouts += [t for t in (getattr(mod, "TimeoutException", None),) if isinstance(t, type)]
        transport += [t for t in (getattr(mod, "HTTPError", None), getattr(mod, "StreamError", None)) if isinstance(t, type)]
    return tuple(timeouts), tuple(transport)


def _choice_text(choice: Any) -> str | None:
    """A chat delta's / message's content, or a completion's text."""
    for holder in ("delta", "message"):
        part = getattr(choice, holder, None)
        if part is not None:
            return getattr(part, "content", None)
    return getattr(choice, "text", None)


def _usage(obj: Any) -> tuple[int, int]:
    usage = getattr(obj, "usage", None)
    if usage is None:
        return 0, 0
    return int(getattr(usage, "prompt_tokens", 0) or 0), int(getattr(usage, "completion_tokens", 0) or 0)


class _StreamState:
    """Stream events -> chunks; the stop hold-back guards against servers that ignore ``stop``, and after
    a stop string events are still read for the usage counts."""

    def __init__(self, stops: tuple[str, ...], adapter: str | None) -> None:
        self.held = StopHoldBack(stops)
        self.adapter = adapter
        self.finish: str | None = None
        self.usage = (0, 0)

    def feed(self, event: Any) -> StreamChunk | None:
        if getattr(event, "usage", None) is not None:
            self.usage = _usage(event)
        if self.held.found is not None:
            return None
        text = ""
        for choice in getattr(event, "choices", None) or []:
            delta = _choice_text(choice)
            if delta:
                text += self.held.feed(delta)
            if getattr(choice, "finish_reason", None):
                self.finish = choice.finish_reason
        return StreamChunk(text=text, adapter=self.adapter) if text else None

    def final(self) -> StreamChunk:
        finish = "stop" if self.held.found is not None else self.finish
        return StreamChunk(
            text=self.held.flush(), final=True, adapter=self.adapter, prompt_tokens=self.usage[0],
            completion_tokens=self.usage[1], finish_reason="length" if finish == "length" else "stop",
            extra={"stop_sequence": self.held.found} if self.held.found is not None else {},
        )


class OpenAICompatibleBackend:
    """Generation through ``/v1/chat/completions`` (messages) or ``/v1/completions`` (raw text), with the
    official ``openai`` SDK (extra ``openai``).

    ``adapters``: the adapter names the server serves; when omitted they are read once from
    ``GET /v1/models``. ``endpoint="auto"`` uses chat completions when the config applies a chat
    template (the default) and plain completions otherwise. ``base_model_alias``: the served name of the
    bare backbone (answers abstained prompts). ``timeout`` (seconds per request) and ``max_retries``
    (connection errors, 408/409/429 and 5xx, with exponential back-off) are the SDK's. ``max_concurrency``:
    most requests in flight for one mixed batch. ``http_client`` / ``async_http_client`` are handed to
    ``OpenAI`` / ``AsyncOpenAI`` (proxies, TLS settings).

    Errors: a 404 for an adapter's model is :class:`UnknownAdapterError` (naming the served models), a
    server that cannot be reached :class:`ServerUnavailableError`, no answer within ``timeout``
    :class:`ServerTimeoutError`, any other error status :class:`ServerError` with the status and body.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        base_model_alias: str = "base",
        timeout: float = DEFAULT_TIMEOUT,
        adapters: Sequence[str] | None = None,
        endpoint: str = "auto",
        max_concurrency: int = 8,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: Any = None,
        async_http_client: Any = None,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise InvalidInputError(f"base_url must be an http(s) URL such as http://127.0.0.1:8000/v1, got {base_url!r}")
        if endpoint not in ("auto", "chat", "completions"):
            raise InvalidInputError(f"endpoint must be 'auto', 'chat' or 'completions', got {endpoint!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidInputError(f"max_retries must be an int >= 0, got {max_retries!r}")
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise InvalidInputError(f"max_concurrency must be an int >= 1, got {max_concurrency!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise InvalidInputError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        if not isinstance(base_model_alias, str) or not base_model_alias:
            raise InvalidInputError(f"base_model_alias must be the served name of the base model, got {base_model_alias!r}")
        self._openai = require_openai()
        base = base_url.rstrip("/")
        self.base_url = base if base.endswith("/v1") else base + "/v1"
        self.base_model_alias = base_model_alias
        self.timeout = float(timeout)
        self.endpoint = endpoint
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self._api_key = api_key or NO_API_KEY  # never the user's OPENAI_API_KEY: this is not api.openai.com
        self._http_client = http_client
        self._async_http_client = async_http_client
        self._adapters: set[str] | None = set(adapters) if adapters is not None else None
        self._served: list[str] | None = None
        self._lock = threading.Lock()
        self._client: Any = None
        # one AsyncOpenAI per event loop: an async connection pool belongs to the loop that opened it
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
        self._timeouts, self._transport = _transport_errors()

    def __repr__(self) -> str:
        return f"OpenAICompatibleBackend({self.base_url!r}, base_model_alias={self.base_model_alias!r})"

    # ------------------------------------------------------------------ clients
    def _options(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "api_key": self._api_key, "timeout": self.timeout, "max_retries": self.max_retries}

    @property
    def client(self) -> Any:
        """The ``openai.OpenAI`` client (created on first use)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    extra = {"http_client": self._http_client} if self._http_client is not None else {}
                    self._client = self._openai.OpenAI(**self._options(), **extra)
        return self._client

    def async_client(self) -> Any:
        """The ``openai.AsyncOpenAI`` client of the running event loop (one per loop)."""
        if self._async_http_client is not None:
            key: Any = self  # the caller's own async HTTP client: one AsyncOpenAI around it
        else:
            key = asyncio.get_running_loop()
        with self._lock:
            client = self._aclients.get(key)
            if client is None:
                extra = {"http_client": self._async_http_client} if self._async_http_client is not None else {}
                client = self._aclients[key] = self._openai.AsyncOpenAI(**self._options(), **extra)
        return client

    def close(self) -> None:
        """Close the sync connection pool (async clients close with :meth:`aclose` on their loop)."""
        if self._client is not None:
            self._client.close()
        self._client = None

    async def aclose(self) -> None:
        """Close the async client of the running loop (and the sync one)."""
        key: Any = self if self._async_http_client is not None else asyncio.get_running_loop()
        client = self._aclients.pop(key, None)
        if client is not None:
            await client.close()
        self.close()

    # ------------------------------------------------------------------ served models
    @property
    def model_name(self) -> str:
        return self.base_model_alias

    def _set_served(self, ids: Iterable[Any]) -> None:
        served = sorted({str(i) for i in ids if i})
        self._served = served
        if self._adapters is None:
            self._adapters = set(served) - {self.base_model_alias}

    def has_adapter(self, name: str) -> bool:
        if self._adapters is None:
            with self._errors(None, MODELS):
                page = self.client.models.list()
            self._set_served(getattr(m, "id", None) for m in page.data)
        return name in (self._adapters or set())

    async def ahas_adapter(self, name: str) -> bool:
        """:meth:`has_adapter` without blocking the event loop (reads ``/v1/models`` once)."""
        if self._adapters is None:
            try:
                page = await self.async_client().models.list()
            except Exception as exc:  # translated to this package's errors (re-raised)
                raise self._translate(exc, None, MODELS) from exc
            self._set_served(getattr(m, "id", None) for m in page.data)
        return name in (self._adapters or set())

    def _served_hint(self) -> str:
        if self._served is not None:
            return f"it serves {self._served}"
        if self._adapters is not None:
            return f"adapters it was given: {sorted(self._adapters)}"
        return "list them with GET /v1/models"

    # ------------------------------------------------------------------ errors
    def _translate(self, exc: BaseException, adapter: str | None, what: str) -> Exception:
        """An SDK / transport error as this package's typed error (or ``exc`` itself when it is one already)."""
        oa = self._openai
        where = f"the OpenAI-compatible server at {self.base_url}"
        if isinstance(exc, oa.APITimeoutError) or isinstance(exc, self._timeouts):
            return ServerTimeoutError(
                f"{where} did not answer {what} within {self.timeout:g} s (after {self.max_retries} retries); "
                f"it may be overloaded or still loading the model: raise timeout= or try again"
            )
        if isinstance(exc, oa.APIConnectionError) or isinstance(exc, self._transport):
            return ServerUnavailableError(
                f"cannot reach {where} ({what}: {printable(exc, 200)}); is it running? Start it (e.g. `vllm serve ... "
                f"--enable-lora --lora-modules name=path`) or fix base_url="
            )
        if isinstance(exc, oa.NotFoundError):
            body = printable(_error_body(exc), 200)
            if what == MODELS:
                return ServerError(f"{where} does not list its models at {self.base_url}/models (HTTP 404: {body}); "
                                   f"pass adapters=[...] (the adapter names it serves)")
            if adapter is not None:
                return UnknownAdapterError(
                    f"{where} does not serve adapter {adapter!r} (HTTP 404: {body}); {self._served_hint()}. Load it on "
                    f"the server (vLLM: --lora-modules {adapter}=ADAPTER_DIR) or remove it from the index"
                )
            return ServerError(
                f"{where} does not serve the base model {self.base_model_alias!r} that answers abstained prompts "
                f"(HTTP 404: {body}); {self._served_hint()}. Pass its served name as backbone= (base_model_alias=), "
                f"or serve it under that name (vLLM: --served-model-name {self.base_model_alias})"
            )
        if isinstance(exc, oa.APIStatusError):
            return ServerError(f"{where} answered {what} with HTTP {exc.status_code}: {printable(_error_body(exc), 300)}")
        if isinstance(exc, oa.OpenAIError):
            return ServerError(f"{where} failed on {what}: {printable(exc, 300)}")
        return exc if isinstance(exc, Exception) else RuntimeError(str(exc))

    @contextmanager
    def _errors(self, adapter: str | None, what: str) -> Iterator[None]:
        """Raise SDK / transport errors inside the block as this package's typed errors."""
        try:
            yield
        except Exception as exc:  # translated; anything else is re-raised unchanged
            mapped = self._translate(exc, adapter, what)
            if mapped is exc:
                raise
            raise mapped from exc

    # ------------------------------------------------------------------ requests
    def _use_chat(self, prompt: Prompt, config: GenerationConfig) -> bool:
        if self.endpoint != "auto":
            return self.endpoint == "chat"
        return not isinstance(prompt, str) or config.apply_chat_template

    def _payload(self, prompt: Prompt, adapter: str | None, config: GenerationConfig) -> tuple[str, dict[str, Any]]:
        """(endpoint path, keyword arguments of the SDK's ``create``); settings outside OpenAI's API
        (``top_k``, ``repetition_penalty``: vLLM / llama.cpp extensions) travel in ``extra_body``."""
        payload: dict[str, Any] = {
            "model": adapter if adapter is not None else self.base_model_alias,
            "max_tokens": config.max_new_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
        }
        extra: dict[str, Any] = {}
        if config.stop and config.json_schema is None:  # the schema decides where a structured answer ends
            payload["stop"] = list(config.stop)
        if config.seed is not None:
            payload["seed"] = config.seed
        if config.top_k is not None:
            extra["top_k"] = config.top_k
        if config.repetition_penalty is not None:
            extra["repetition_penalty"] = config.repetition_penalty  # vLLM / LoRAX
            extra["repeat_penalty"] = config.repetition_penalty  # llama.cpp's name for it
        chat = self._use_chat(prompt, config)
        if config.json_schema is not None:
            (payload if chat else extra)["response_format"] = response_format(config.json_schema)
        if extra:
            payload["extra_body"] = extra
        if chat:
            payload["messages"] = _messages(prompt)
            return CHAT, payload
        payload["prompt"] = _as_text(prompt)
        return COMPLETIONS, payload

    @staticmethod
    def _api(client: Any, path: str) -> Any:
        return client.chat.completions if path == CHAT else client.completions

    def _check(self, prompts: Sequence[Prompt], adapters: Sequence[str | None]) -> None:
        if len(prompts) != len(adapters):
            raise InvalidInputError(f"{len(prompts)} prompts but {len(adapters)} adapter names")
        if not prompts:
            raise InvalidInputError("prompts is empty: give at least one prompt")

    def _result(self, response: Any, path: str, adapter: str | None, config: GenerationConfig) -> GenerationResult:
        try:
            choice = response.choices[0]
            text = choice.message.content if path == CHAT else choice.text
        except (AttributeError, IndexError, KeyError, TypeError):
            raise ServerError(f"unexpected response from {self.base_url}{path}: {printable(response, 200)}") from None
        prompt_tokens, completion_tokens = _usage(response)
        stops = config.stop if config.json_schema is None else ()
        text, stop_seq = cut_at_stop(text or "", stops)  # for servers that ignore `stop`
        finish = getattr(choice, "finish_reason", None) or "stop"
        return GenerationResult(
            text=text, adapter=adapter, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
            finish_reason="length" if finish == "length" and stop_seq is None else "stop", stop_sequence=stop_seq,
        )

    # ------------------------------------------------------------------ GenerationBackend (sync)
    def generate(
        self, prompts: Sequence[Prompt], adapters: Sequence[str | None], config: GenerationConfig
    ) -> list[GenerationResult]:
        """One request per prompt; several run concurrently (the server batches them)."""
        self._check(prompts, adapters)
        jobs = list(zip(prompts, adapters))
        if len(jobs) == 1:
            return [self._one(*jobs[0], config)]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(jobs)), thread_name_prefix="ariadne-openai") as pool:
            return list(pool.map(lambda job: self._one(job[0], job[1], config), jobs))

    def _one(self, prompt: Prompt, adapter: str | None, config: GenerationConfig) -> GenerationResult:
        path, payload = self._payload(prompt, adapter, config)
        with self._errors(adapter, f"POST {path}"):
            response = self._api(self.client, path).create(**payload)
        return self._result(response, path, adapter, config)

    def stream(self, prompt: Prompt, adapter: str | None, config: GenerationConfig) -> Iterator[StreamChunk]:
        """Server-sent events as chunks (the request is sent on the first ``next``); the last chunk is final."""
        path, payload = self._payload(prompt, adapter, config)
        return self._stream(path, payload, adapter)

    def _stream(self, path: str, payload: dict[str, Any], adapter: str | None) -> Iterator[StreamChunk]:
        state = _StreamState(tuple(payload.get("stop") or ()), adapter)
        what = f"POST {path} (stream)"
        with self._errors(adapter, what):
            events = self._api(self.client, path).create(**payload, stream=True, stream_options={"include_usage": True})
        try:
            with self._errors(adapter, what):
                for event in events:
                    chunk = state.feed(event)
                    if chunk is not None:
                        yield chunk
        finally:
            events.close()
        yield state.final()  # usage and the held-back tail, once the connection is released

    # ------------------------------------------------------------------ async (no worker threads)
    async def agenerate(
        self, prompts: Sequence[Prompt], adapters: Sequence[str | None], config: GenerationConfig
    ) -> list[GenerationResult]:
        """:meth:`generate` on the running event loop: one ``AsyncOpenAI`` request per prompt, run
        concurrently (at most ``max_concurrency`` in flight); the first error cancels the others."""
        self._check(prompts, adapters)
        client = self.async_client()
        gate = asyncio.Semaphore(self.max_concurrency)

        async def one(prompt: Prompt, adapter: str | None) -> GenerationResult:
            async with gate:
                return await self._aone(client, prompt, adapter, config)

        if len(prompts) == 1:
            return [await self._aone(client, prompts[0], adapters[0], config)]
        tasks = [asyncio.ensure_future(one(p, a)) for p, a in zip(prompts, adapters)]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _aone(self, client: Any, prompt: Prompt, adapter: str | None, config: GenerationConfig) -> GenerationResult:
        path, payload = self._payload(prompt, adapter, config)
        try:
            response = await self._api(client, path).create(**payload)
        except Exception as exc:  # translated to this package's errors (re-raised)
            raise await self._atranslate(exc, adapter, f"POST {path}") from exc
        return self._result(response, path, adapter, config)

    async def _atranslate(self, exc: Exception, adapter: str | None, what: str) -> Exception:
        if adapter is not None and self._served is None and isinstance(exc, self._openai.NotFoundError):
            try:  # name the served models in the error
                await self.ahas_adapter(adapter)
            except Exception as listing:  # noqa: BLE001 - the 404 is what is reported
                logger.debug("listing the served models failed: %s", listing)
        return self._translate(exc, adapter, what)

    async def astream(self, prompt: Prompt, adapter: str | None, config: GenerationConfig) -> AsyncIterator[StreamChunk]:
        """:meth:`stream` on the running event loop (``AsyncOpenAI``); the last chunk is final."""
        path, payload = self._payload(prompt, adapter, config)
        state = _StreamState(tuple(payload.get("stop") or ()), adapter)
        what = f"POST {path} (stream)"
        try:
            events = await self._api(self.async_client(), path).create(
                **payload, stream=True, stream_options={"include_usage": True})
        except Exception as exc:  # translated to this package's errors (re-raised)
            raise await self._atranslate(exc, adapter, what) from exc
        try:
            try:
                async for event in events:
                    chunk = state.feed(event)
                    if chunk is not None:
                        yield chunk
            except Exception as exc:  # translated to this package's errors (re-raised)
                mapped = self._translate(exc, adapter, what)
                if mapped is exc:
                    raise
                raise mapped from exc
        finally:
            await events.close()
        yield state.final()


def _error_body(exc: Any) -> str:
    """The server's error message (``{"error": {"message": ...}}`` or ``{"message": ...}``), else its body."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        return json.dumps(body)[:300]
    if body is not None:
        return str(body)
    return str(getattr(exc, "message", exc))

