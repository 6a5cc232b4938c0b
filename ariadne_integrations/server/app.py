"""The OpenAI-compatible app: ``/v1/models``, ``/v1/chat/completions``, ``/v1/completions`` (SSE streaming).

Why a server over the in-process runtime: any OpenAI client (the ``openai`` SDK, LangChain's
``ChatOpenAI``, LlamaIndex's ``OpenAILike``, curl) can then use the routed adapters without importing
this package. ``model: "ariadne"`` routes each request; ``model: "<adapter>"`` forces one; the backbone's
name (or ``"__base__"``) is the bare backbone. Every answer names what answered: ``model`` is
``<backbone>:<adapter>`` (the convention of the LangChain wrappers; the backbone alone for the bare
model), the ``x-ariadne-adapter`` header names the adapter, and the extra ``ariadne`` field holds the
routing metadata (:meth:`RoutedResult.metadata`: adapter, score, margin, abstained, forced, scores).

Requests arriving together are answered together: non-streaming requests go through
:meth:`RoutedGenerator.agenerate`, whose coalescer gathers concurrent calls into one mixed-adapter batch
(``core.coalescing``). Streams run one by one on the model (``RoutedGenerator.stream``; the core does
not coalesce streams), each consumed from asyncio through ``core.async_bridge``.

Safety: a bearer key (when set) is checked on every route before anything else; request bodies,
``max_tokens``, prompt length and the number of requests in progress are bounded (:class:`ServerLimits`);
a client names models only, and only the index's adapters are models, so no request can name a file.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ariadne_integrations.constants import BASE_ADAPTER
from ariadne_integrations.core.async_bridge import aiter_in_thread
from ariadne_integrations.core.generator import RoutedGenerator, RoutedResult, RoutedStream
from ariadne_integrations.core.options import GenerationConfig, RoutedModelOptions
from ariadne_integrations.core.prompts import chat_message, check_stop, validate_prompt
from ariadne_integrations.errors import AriadneError, InvalidInputError, printable
from ariadne_integrations.server.errors import APIError, error_body, status_of
from ariadne_integrations.server.schemas import (
    ROLES,
    ROUTED_ALIASES,
    ROUTED_MODEL,
    ChatCompletionRequest,
    CompletionRequest,
    ServerLimits,
)
from ariadne_integrations.server.security import KeyCheck, bind_warning

logger = logging.getLogger(__name__)

__all__ = ["create_app", "serve", "served_model_name"]

MAX_STOP = 16
"""Most stop strings one request may give."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def served_model_name(backbone: str, adapter: str | None) -> str:
    """``backbone:adapter`` (what answered), or the backbone name for the bare model (as the wrappers report it)."""
    return backbone if adapter is None else f"{backbone}:{adapter}"


# ---------------------------------------------------------------------- the service behind the routes
class _Service:
    """The generator, the limits, the model names, and the count of requests in progress."""

    def __init__(self, gen: RoutedGenerator, limits: ServerLimits, backbone_name: str | None) -> None:
        self.gen = gen
        self.limits = limits
        self._backbone_name = backbone_name
        self.active = 0

    @property
    def backbone_name(self) -> str:
        if self._backbone_name is None:
            self._backbone_name = self.gen.model_name
        return self._backbone_name

    def served_name(self, adapter: str | None) -> str:
        return served_model_name(self.backbone_name, adapter)

    def model_ids(self) -> list[str]:
        """Every ``model`` a request may name: the routed model, each adapter, the bare backbone."""
        return [ROUTED_MODEL, *self.gen.adapters, self.backbone_name]

    def resolve(self, model: str) -> str | None:
        """The forced adapter a ``model`` names (None = route; ``"__base__"`` = the bare backbone).

        Only the index's adapter names are accepted (also as ``<backbone>:<adapter>``, the ``model`` a
        response reports), so nothing a client sends reaches a file path."""
        if model in ROUTED_ALIASES:
            return None
        backbone = self.backbone_name
        name = model[len(backbone) + 1:] if model.startswith(backbone + ":") else model
        if name in (BASE_ADAPTER, backbone, backbone.rsplit("/", 1)[-1]):
            return BASE_ADAPTER
        if name in self.gen.adapters:
            return name
        raise APIError(404, f"the model {printable(model, 200)!r} does not exist; models: {self.model_ids()}",
                       param="model", code="model_not_found")

    def acquire(self) -> Callable[[], None]:
        """Take one of ``max_concurrent`` slots (429 when none is free); returns its idempotent release."""
        if self.active >= self.limits.max_concurrent:
            raise APIError(429, f"too many requests in progress (limit {self.limits.max_concurrent}); retry shortly",
                           code="rate_limit_exceeded", headers={"Retry-After": "1"})
        self.active += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.active -= 1

        return release

    # ------------------------------------------------------------------ request -> (prompts, adapter, config)
    def config(self, req: ChatCompletionRequest | CompletionRequest, max_tokens: int | None) -> GenerationConfig:
        limit = self.limits.max_tokens
        wanted = max_tokens if max_tokens is not None else self.limits.default_max_tokens
        if wanted > limit:
            raise APIError(400, f"max_tokens is {wanted}, above this server's limit of {limit}", param="max_tokens",
                           code="max_tokens_exceeded")
        stop = check_stop(req.stop)
        if len(stop) > MAX_STOP:
            raise APIError(400, f"at most {MAX_STOP} stop strings, got {len(stop)}", param="stop")
        return GenerationConfig(max_new_tokens=wanted, temperature=float(req.temperature or 0.0),
                                top_p=float(1.0 if req.top_p is None else req.top_p), stop=stop, seed=req.seed,
                                apply_chat_template=True)

    async def check_length(self, prompts: list[Any]) -> None:
        """400 when a prompt is longer than ``max_prompt_tokens`` (counted with the chat template)."""
        limit = self.limits.max_prompt_tokens

        def count() -> list[int | None]:
            return [self.gen.count_tokens(p) for p in prompts]

        for i, n in enumerate(await asyncio.to_thread(count)):
            if n is not None and n > limit:
                where = "messages" if isinstance(prompts[i], list) else "prompt"
                raise APIError(400, f"the prompt is {n} tokens long, above this server's limit of {limit}", param=where,
                               code="context_length_exceeded")


def _unsupported(req: ChatCompletionRequest | CompletionRequest) -> None:
    bad = req.unsupported()
    if bad:
        raise APIError(400, f"this server does not support {bad[0]!r} with that value (unsupported: {bad})", param=bad[0],
                       code="unsupported_parameter")


def _chat_prompt(req: ChatCompletionRequest) -> list[dict[str, str]]:
    if not req.messages:
        raise APIError(400, "messages is empty; give at least one message", param="messages")
    out = []
    for i, m in enumerate(req.messages):
        if m.role not in ROLES:
            raise APIError(400, f"messages[{i}].role {printable(m.role, 64)!r} is not one of {sorted(ROLES)}",
                           param=f"messages[{i}].role")
        try:
            text = m.text(f"messages[{i}]")
        except InvalidInputError as exc:
            raise APIError(400, str(exc), param=f"messages[{i}].content") from None
        out.append(chat_message(m.role, text, m.name))
    try:
        validate_prompt(out)
    except InvalidInputError as exc:
        raise APIError(400, str(exc).replace("prompt", "messages", 1), param="messages") from None
    return out


def _completion_prompts(req: CompletionRequest, limit: int) -> list[str]:
    prompts = [req.prompt] if isinstance(req.prompt, str) else list(req.prompt)
    if not prompts:
        raise APIError(400, "prompt is an empty list; give at least one prompt", param="prompt")
    if len(prompts) > limit:
        raise APIError(400, f"prompt has {len(prompts)} items, above this server's limit of {limit}", param="prompt")
    for i, p in enumerate(prompts):
        try:
            validate_prompt(p, i if len(prompts) > 1 else None)
        except InvalidInputError as exc:
            raise APIError(400, str(exc), param="prompt") from None
    return prompts


async def _read_json(request: Request, limit: int, model: type[BaseModel]) -> Any:
    """The body as ``model``: 413 past ``limit`` bytes (counted while reading), 400 when not a JSON object
    or not valid for the route."""
    size = 0
    chunks: list[bytes] = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise APIError(413, f"the request body is larger than this server's limit of {limit} bytes", code="body_too_large")
        chunks.append(chunk)
    try:
        obj = json.loads(b"".join(chunks))
    except (ValueError, RecursionError) as exc:
        raise APIError(400, f"the request body is not valid JSON ({type(exc).__name__}: {exc})", code="invalid_json") from None
    if not isinstance(obj, dict):
        raise APIError(400, f"the request body must be a JSON object, got {type(obj).__name__}", code="invalid_json")
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        errors = exc.errors()
        param = ".".join(str(p) for p in errors[0]["loc"]) if errors and errors[0]["loc"] else None
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in errors[:5])
        raise APIError(400, f"invalid request: {problems}", param=param) from None


# ---------------------------------------------------------------------- responses
def _usage(results: list[RoutedResult]) -> dict[str, int]:
    p = sum(int(r.result.prompt_tokens or 0) for r in results)
    c = sum(int(r.result.completion_tokens or 0) for r in results)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _adapter_header(adapter: str | None) -> dict[str, str]:
    return {"x-ariadne-adapter": adapter or BASE_ADAPTER}


def _sse(obj: Any) -> str:
    return f"data: {json.dumps(obj, separators=(',', ':'), ensure_ascii=False)}\n\n"


class _SlotStreamingResponse(StreamingResponse):
    """A streaming response that frees its concurrency slot however it ends (even never started)."""

    def __init__(self, content: AsyncIterator[str], release: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def _stream_response(svc: _Service, rs: RoutedStream, release: Callable[[], None], *, chat: bool, include_usage: bool
                     ) -> _SlotStreamingResponse:
    """SSE in OpenAI's shape: chunks of ``chat.completion.chunk`` (or ``text_completion``), then ``[DONE]``.

    The first chunk already names the adapter (the decision is made before generation); the last one
    carries the finish reason and the full ``ariadne`` metadata; a failure mid-stream is an ``error`` event."""
    rid = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
    created = int(time.time())
    model = svc.served_name(rs.decision.adapter)
    obj = "chat.completion.chunk" if chat else "text_completion"

    def chunk(text: str | None, finish: str | None, first: bool = False, **extra: Any) -> dict[str, Any]:
        if chat:
            delta: dict[str, Any] = {"role": "assistant", "content": ""} if first else ({} if text is None else {"content": text})
            choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
        return {"id": rid, "object": obj, "created": created, "model": model, "choices": [choice], **extra}

    async def events() -> AsyncIterator[str]:
        try:
            if chat:
                yield _sse(chunk(None, None, first=True, ariadne=rs.metadata()))
            async for piece in aiter_in_thread(lambda: iter(rs)):
                if piece.text:
                    yield _sse(chunk(piece.text, None))
            result = rs.result
            finish = result.result.finish_reason if result is not None else "stop"
            yield _sse(chunk(None if chat else "", finish or "stop", ariadne=rs.metadata()))
            if include_usage and result is not None:
                yield _sse({"id": rid, "object": obj, "created": created, "model": model, "choices": [],
                            "usage": _usage([result])})
            yield "data: [DONE]\n\n"
        except Exception as exc:  # the status line is sent: report the failure in the stream
            logger.exception("stream %s failed", rid)
            status, code = status_of(exc) if isinstance(exc, AriadneError) else (500, None)
            yield _sse(error_body(status, str(exc) if status < 500 else "the server failed while generating", code=code))
        finally:
            release()

    return _SlotStreamingResponse(events(), release, media_type="text/event-stream",
                                  headers={"Cache-Control": "no-cache", **_adapter_header(rs.decision.adapter)})


# ---------------------------------------------------------------------- the guard (auth + declared body size)
class _Guard:
    """Pure ASGI middleware, outermost: the bearer key on every route (401 before routing, so an unknown
    path reveals nothing), and a declared ``Content-Length`` above the limit refused before reading (413)."""

    def __init__(self, app: ASGIApp, key: KeyCheck | None, max_body_bytes: int) -> None:
        self.app = app
        self.key = key
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        auth: bytes | None = None
        length: bytes | None = None
        for name, value in scope.get("headers") or ():
            if name == b"authorization":
                auth = value
            elif name == b"content-length":
                length = value
        if self.key is not None and not self.key.allows(auth):
            await _send_error(send, APIError(401, "missing or wrong API key: send 'Authorization: Bearer <key>'",
                                             code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}))
            return
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _send_error(send, APIError(400, "the Content-Length header is not a number"))
                return
            if declared > self.max_body_bytes:
                await _send_error(send, APIError(413, f"the request body is larger than this server's limit of "
                                                      f"{self.max_body_bytes} bytes", code="body_too_large"))
                return
        await self.app(scope, receive, send)


async def _send_error(send: Send, exc: APIError) -> None:
    body = json.dumps(error_body(exc.status, exc.message, exc.param, exc.code)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               *((k.lower().encode(), v.encode()) for k, v in exc.headers.items())]
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _error_response(exc: APIError) -> JSONResponse:
    return JSONResponse(error_body(exc.status, exc.message, exc.param, exc.code), status_code=exc.status, headers=exc.headers)


# ---------------------------------------------------------------------- the app
def create_app(
    generator_or_index: RoutedGenerator | str | os.PathLike[str],
    *,
    api_key: str | None = None,
    limits: ServerLimits | None = None,
    backbone: str | None = None,
    preload: bool = True,
    device: str = "auto",
    dtype: str = "auto",
) -> FastAPI:
    """The FastAPI app serving a routing index (a folder) or a ready :class:`RoutedGenerator`.

    From an index, the router and the adapter runtime are built as every wrapper builds them
    (:class:`RoutedModelOptions`: process-wide caches, coalescing as ``limits`` says); a generator is
    used as it is (its own coalescing settings apply). ``api_key``: require ``Authorization: Bearer
    <key>`` on every route. ``preload``: load the models at start-up, so the first request is not slow
    and a broken index fails the start rather than a request. ``device`` / ``dtype``: where and in what
    precision the local runtime runs the backbone (as in every wrapper). No OpenAPI or docs routes are served.
    """
    limits = limits or ServerLimits()
    if isinstance(generator_or_index, RoutedGenerator):
        gen, name = generator_or_index, backbone
    else:
        options = RoutedModelOptions(index=os.fspath(generator_or_index), backbone=backbone, device=device, dtype=dtype,
                                     coalesce_window_ms=limits.coalesce_window_ms, max_batch_size=limits.max_batch_size)
        gen, name = options.generator, options.backbone_name
    svc = _Service(gen, limits, name)
    key = KeyCheck(api_key) if api_key is not None else None

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if preload:
            def load() -> None:
                gen.load()
                _ = gen.tokenizer  # loads the backbone, which the runtime otherwise loads on the first request

            await asyncio.to_thread(load)
            logger.info("serving %s: models %s", svc.backbone_name, svc.model_ids())
        yield

    app = FastAPI(title="ariadne", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.ariadne = svc

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(AriadneError)
    async def _typed_error(_: Request, exc: AriadneError) -> JSONResponse:
        status, code = status_of(exc)
        if status >= 500:
            logger.error("request failed: %s: %s", type(exc).__name__, exc)
        message = str(exc) if status < 500 or status == 503 else "the server failed to answer this request"
        return _error_response(APIError(status, message, code=code, param="model" if code == "model_not_found" else None))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error_response(APIError(exc.status_code, str(exc.detail), headers=dict(exc.headers or {})))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error_response(APIError(400, f"invalid request: {exc.errors()[:3]}"))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.error("unexpected %s while serving a request", type(exc).__name__, exc_info=exc)
        return _error_response(APIError(500, "the server failed to answer this request"))

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [_model_card(m) for m in svc.model_ids()]}

    @app.get("/v1/models/{model_id:path}")
    async def get_model(model_id: str) -> dict[str, Any]:
        if model_id not in svc.model_ids():
            svc.resolve(model_id)  # 404 for an unknown name; a known alias is described below
        return _model_card(model_id)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "loaded": gen.loaded, "active": svc.active}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(request: Request) -> Any:
        req = await _read_json(request, limits.max_body_bytes, ChatCompletionRequest)
        _unsupported(req)
        adapter = svc.resolve(req.model)
        prompt = _chat_prompt(req)
        config = svc.config(req, req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens)
        release = svc.acquire()
        try:
            await svc.check_length([prompt])
            if req.stream:
                rs = await asyncio.to_thread(gen.stream, prompt, config, adapter=adapter)
                include = bool(req.stream_options and req.stream_options.include_usage)
                return _stream_response(svc, rs, release, chat=True, include_usage=include)
            [res] = await gen.agenerate([prompt], config, adapter=adapter)
        except BaseException:
            release()
            raise
        release()
        return JSONResponse({
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": svc.served_name(res.adapter), "system_fingerprint": None,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": res.text}, "logprobs": None,
                         "finish_reason": res.result.finish_reason or "stop"}],
            "usage": _usage([res]), "ariadne": res.metadata(),
        }, headers=_adapter_header(res.adapter))

    @app.post("/v1/completions", response_model=None)
    async def completions(request: Request) -> Any:
        req = await _read_json(request, limits.max_body_bytes, CompletionRequest)
        _unsupported(req)
        adapter = svc.resolve(req.model)
        prompts = _completion_prompts(req, limits.max_prompts)
        if req.stream and len(prompts) > 1:
            raise APIError(400, "streaming takes one prompt; send a list of prompts without stream", param="prompt")
        config = svc.config(req, req.max_tokens)
        release = svc.acquire()
        try:
            await svc.check_length(list(prompts))
            if req.stream:
                rs = await asyncio.to_thread(gen.stream, prompts[0], config, adapter=adapter)
                include = bool(req.stream_options and req.stream_options.include_usage)
                return _stream_response(svc, rs, release, chat=False, include_usage=include)
            results = await gen.agenerate(list(prompts), config, adapter=adapter)
        except BaseException:
            release()
            raise
        release()
        adapters = {r.adapter for r in results}
        model = svc.served_name(results[0].adapter) if len(adapters) == 1 else ROUTED_MODEL
        return JSONResponse({
            "id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()), "model": model,
            "system_fingerprint": None,
            "choices": [{"index": i, "text": r.text, "logprobs": None, "finish_reason": r.result.finish_reason or "stop",
                         "ariadne": r.metadata()} for i, r in enumerate(results)],
            "usage": _usage(results), "ariadne": results[0].metadata(),
        }, headers=_adapter_header(results[0].adapter) if len(adapters) == 1 else {})

    app.add_middleware(_Guard, key=key, max_body_bytes=limits.max_body_bytes)
    return app


def _model_card(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "ariadne"}


def serve(
    index: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    limits: ServerLimits | None = None,
    backbone: str | None = None,
    log_level: str = "info",
    warn: bool = True,
    device: str = "auto",
    dtype: str = "auto",
) -> None:
    """Serve ``index`` with uvicorn until interrupted (``ariadne serve``).

    Binds to loopback unless ``host`` says otherwise; a non-loopback ``host`` without ``api_key`` logs a
    warning (``warn=False``: the caller already printed it). uvicorn also caps open connections at four
    times ``max_concurrent`` (plain 503 beyond), so idle connections cannot pile up without bound."""
    import uvicorn

    limits = limits or ServerLimits()
    message = bind_warning(host, api_key)
    if message and warn:
        logger.warning(message)
    app = create_app(index, api_key=api_key, limits=limits, backbone=backbone, device=device, dtype=dtype)
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False,
                limit_concurrency=max(4 * limits.max_concurrent, 64), timeout_keep_alive=5)
