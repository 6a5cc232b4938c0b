"""A GenerationBackend over an OpenAI-compatible multi-LoRA server (vLLM, LoRAX, llama.cpp server).

Why: the same routed chain should move from the in-process runtime to a serving engine without
code changes. Those engines serve each LoRA adapter under its own model name
(vLLM ``--enable-lora --lora-modules sql=/path``, LoRAX adapter ids, llama.cpp server model
aliases), so the routed adapter name simply becomes the request's ``model``; ``None`` (abstained)
goes to the base model alias. The server batches concurrent requests itself (continuous batching),
so a mixed batch is sent as concurrent requests.

Uses ``httpx`` (a dependency of langchain-core) when installed, else ``urllib``.
"""
from __future__ import annotations

import json
import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator, Sequence

from ariadne_integrations.errors import InvalidInputError, ServerError, UnknownAdapterError
from ariadne_integrations.runtime.generation import GenerationConfig, GenerationResult, Prompt, StreamChunk
from ariadne_integrations.runtime.stops import StopHoldBack, cut_at_stop

logger = logging.getLogger(__name__)

__all__ = ["OpenAICompatibleBackend", "ServerError"]


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


class OpenAICompatibleBackend:
    """Generation through ``/v1/chat/completions`` (messages) or ``/v1/completions`` (raw text).

    ``adapters``: the adapter names the server serves; when omitted they are read once from
    ``GET /v1/models``. ``endpoint="auto"`` uses chat completions when the config applies a chat
    template (the default) and plain completions otherwise.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        base_model_alias: str = "base",
        timeout: float = 60.0,
        adapters: Sequence[str] | None = None,
        endpoint: str = "auto",
        max_concurrency: int = 8,
        max_retries: int = 0,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise InvalidInputError(f"base_url must be an http(s) URL such as http://127.0.0.1:8000/v1, got {base_url!r}")
        if endpoint not in ("auto", "chat", "completions"):
            raise InvalidInputError(f"endpoint must be 'auto', 'chat' or 'completions', got {endpoint!r}")
        if timeout <= 0 or max_concurrency < 1 or max_retries < 0:
            raise InvalidInputError("timeout must be > 0, max_concurrency >= 1 and max_retries >= 0")
        base = base_url.rstrip("/")
        self.base_url = base if base.endswith("/v1") else base + "/v1"
        self.api_key = api_key
        self.base_model_alias = base_model_alias
        self.timeout = float(timeout)
        self.endpoint = endpoint
        self.max_concurrency = int(max_concurrency)
        self.max_retries = int(max_retries)
        self._adapters: set[str] | None = set(adapters) if adapters is not None else None
        self._lock = threading.Lock()
        self._client: Any = None

    def __repr__(self) -> str:
        return f"OpenAICompatibleBackend({self.base_url!r}, base_model_alias={self.base_model_alias!r})"

    # ------------------------------------------------------------------ GenerationBackend
    @property
    def model_name(self) -> str:
        return self.base_model_alias

    def has_adapter(self, name: str) -> bool:
        if self._adapters is None:
            with self._lock:
                if self._adapters is None:
                    data = self._request("GET", "/models", None)
                    ids = {str(m["id"]) for m in data.get("data", []) if isinstance(m, dict) and m.get("id")}
                    self._adapters = ids - {self.base_model_alias}
        return name in (self._adapters or set())

    def generate(
        self, prompts: Sequence[Prompt], adapters: Sequence[str | None], config: GenerationConfig
    ) -> list[GenerationResult]:
        if len(prompts) != len(adapters):
            raise InvalidInputError(f"{len(prompts)} prompts but {len(adapters)} adapter names")
        if not prompts:
            raise InvalidInputError("prompts is empty: give at least one prompt")
        jobs = list(zip(prompts, adapters))
        if len(jobs) == 1:
            return [self._one(*jobs[0], config)]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(jobs))) as pool:
            return list(pool.map(lambda job: self._one(job[0], job[1], config), jobs))

    def stream(self, prompt: Prompt, adapter: str | None, config: GenerationConfig) -> Iterator[StreamChunk]:
        path, payload = self._payload(prompt, adapter, config)
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
        return self._stream_events(path, payload, adapter)

    # ------------------------------------------------------------------ requests
    def _use_chat(self, prompt: Prompt, config: GenerationConfig) -> bool:
        if self.endpoint != "auto":
            return self.endpoint == "chat"
        return not isinstance(prompt, str) or config.apply_chat_template

    def _payload(self, prompt: Prompt, adapter: str | None, config: GenerationConfig) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = {
            "model": adapter if adapter is not None else self.base_model_alias,
            "max_tokens": config.max_new_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
        }
        if config.stop and config.json_schema is None:  # the schema decides where a structured answer ends
            payload["stop"] = list(config.stop)
        if config.seed is not None:
            payload["seed"] = config.seed
        if config.top_k is not None:
            payload["top_k"] = config.top_k  # vLLM / llama.cpp extension
        if config.repetition_penalty is not None:
            payload["repetition_penalty"] = config.repetition_penalty
        if config.json_schema is not None:
            payload["response_format"] = response_format(config.json_schema)
        if self._use_chat(prompt, config):
            payload["messages"] = _messages(prompt)
            return "/chat/completions", payload
        payload["prompt"] = _as_text(prompt)
        return "/completions", payload

    def _one(self, prompt: Prompt, adapter: str | None, config: GenerationConfig) -> GenerationResult:
        path, payload = self._payload(prompt, adapter, config)
        data = self._request("POST", path, payload, adapter=adapter)
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] if "message" in choice else choice["text"]
        except (KeyError, IndexError, TypeError):
            raise ServerError(f"unexpected response from {self.base_url}{path}: {str(data)[:200]}") from None
        usage = data.get("usage") or {}
        finish = choice.get("finish_reason") or "stop"
        stops = config.stop if config.json_schema is None else ()
        text, stop_seq = cut_at_stop(text or "", stops)  # for servers that ignore `stop`
        return GenerationResult(
            text=text,
            adapter=adapter,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason="length" if finish == "length" else "stop",
            stop_sequence=stop_seq,
        )

    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        return h

    def _http(self) -> Any:
        if self._client is None:
            try:
                import httpx
            except ImportError:  # pragma: no cover - httpx ships with langchain-core
                self._client = False
            else:
                self._client = httpx.Client(timeout=self.timeout)
        return self._client

    def _raise_for(self, status: int, body: str, adapter: str | None) -> None:
        if status == 404 and adapter is not None:
            raise UnknownAdapterError(f"the server at {self.base_url} does not serve model {adapter!r} ({body[:200]})")
        if 400 <= status < 500:
            raise InvalidInputError(f"the server at {self.base_url} rejected the request (HTTP {status}): {body[:300]}")
        raise ServerError(f"the server at {self.base_url} failed (HTTP {status}): {body[:300]}")

    def _request(self, method: str, path: str, payload: dict[str, Any] | None, *, adapter: str | None = None) -> dict[str, Any]:
        url = self.base_url + path
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            try:
                status, body = self._send(method, url, payload)
            except OSError as exc:
                last = exc
                logger.warning("request to %s failed (attempt %d): %s", url, attempt + 1, exc)
                continue
            if status >= 500 and attempt < self.max_retries:
                continue
            if status >= 400:
                self._raise_for(status, body, adapter)
            try:
                return json.loads(body)
            except json.JSONDecodeError:
                raise ServerError(f"{url} did not return JSON: {body[:200]!r}") from None
        raise ServerError(f"cannot reach the OpenAI-compatible server at {url}: {last}; is it running?")

    def _send(self, method: str, url: str, payload: dict[str, Any] | None) -> tuple[int, str]:
        client = self._http()
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        if client:
            import httpx

            try:
                r = client.request(method, url, content=data, headers=self._headers())
            except httpx.HTTPError as exc:
                raise OSError(str(exc)) from exc
            return r.status_code, r.text
        import urllib.error
        import urllib.request

        req = urllib.request.Request(url, data=data, method=method, headers=self._headers())
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, resp.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")

    def _lines(self, url: str, payload: dict[str, Any], adapter: str | None) -> Iterator[str]:
        client = self._http()
        data = json.dumps(payload).encode("utf-8")
        headers = {**self._headers(), "Accept": "text/event-stream"}
        if client:
            import httpx

            try:
                with client.stream("POST", url, content=data, headers=headers) as r:
                    if r.status_code >= 400:
                        self._raise_for(r.status_code, r.read().decode("utf-8", "replace"), adapter)
                    yield from r.iter_lines()
            except httpx.HTTPError as exc:
                raise ServerError(f"streaming from {url} failed: {exc}") from exc
            return
        import urllib.error
        import urllib.request

        req = urllib.request.Request(url, data=data, method="POST", headers=headers)
        try:
            resp = urllib.request.urlopen(req, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            self._raise_for(exc.code, exc.read().decode("utf-8", "replace"), adapter)
        except OSError as exc:
            raise ServerError(f"cannot reach the OpenAI-compatible server at {url}: {exc}") from exc
        with resp:
            for raw in resp:
                yield raw.decode("utf-8").rstrip("\r\n")

    def _stream_events(self, path: str, payload: dict[str, Any], adapter: str | None) -> Iterator[StreamChunk]:
        url = self.base_url + path
        lines = self._lines(url, payload, adapter)
        try:
            for chunk in self._parse_events(lines, url, tuple(payload.get("stop") or ()), adapter):
                if chunk.final:
                    break
                yield chunk
        finally:
            close = getattr(lines, "close", None)
            if close is not None:
                close()
        yield chunk  # the final chunk (usage, held-back tail), once the connection is released

    @staticmethod
    def _parse_events(lines: Iterator[str], url: str, stops: tuple[str, ...], adapter: str | None) -> Iterator[StreamChunk]:
        """Server-sent events to chunks; the last one is final and carries usage and the held-back tail.

        Servers apply ``stop`` themselves; the hold-back guards against ones that do not, and
        after a stop string the events are read only for the usage counts.
        """
        finish: str | None = None
        usage: dict[str, Any] = {}
        held = StopHoldBack(stops)
        for line in lines:
            if not line.startswith("data:"):
                continue
            body = line[5:].strip()
            if body == "[DONE]":
                break
            try:
                event = json.loads(body)
            except json.JSONDecodeError:
                raise ServerError(f"bad server-sent event from {url}: {body[:200]!r}") from None
            if event.get("usage"):
                usage = event["usage"]
            if held.found is not None:
                continue
            text = ""
            for choice in event.get("choices") or []:
                delta = choice.get("delta", {}).get("content") if "delta" in choice else choice.get("text")
                if delta:
                    text += held.feed(delta)
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
            if text:
                yield StreamChunk(text=text, adapter=adapter)
        if held.found is not None:
            finish = "stop"
        yield StreamChunk(
            text=held.flush(),
            final=True,
            adapter=adapter,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason="length" if finish == "length" else "stop",
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._client:
            self._client.close()
        self._client = None

