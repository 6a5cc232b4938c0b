"""Shared plumbing of AriadneLLM and ChatAriadne: building the routed generator, per-call settings,
routing metadata, and a thread -> asyncio bridge for streaming.

Kept apart from the two model classes so both behave the same way (same errors, same metadata keys).
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, AsyncIterator, Callable, Iterator, TypeVar

from ariadne_integrations.errors import InvalidInputError, UnknownAdapterError
from ariadne_integrations.routed import BASE, RoutedGenerator, RoutedResult, check_index, decision_fields
from ariadne_integrations.routing.decision import RouteDecision
from ariadne_integrations.runtime.generation import GenerationConfig, GenerationResult

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_BACKBONE_NAME = "SmolLM2-135M-Instruct"
"""Name reported for the embedded default backbone before it is loaded (tracing must not load models)."""

_CALL_SETTINGS = ("max_new_tokens", "max_tokens", "temperature", "top_p", "top_k", "seed", "repetition_penalty")


def check_stop(stop: Any, where: str = "stop") -> tuple[str, ...]:
    """A stop list must be a list of non-empty strings (an empty string would stop before any text)."""
    if stop is None:
        return ()
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, (list, tuple)):
        raise InvalidInputError(f"{where} must be a list of strings, got {type(stop).__name__}")
    for i, s in enumerate(stop):
        if not isinstance(s, str) or s == "":
            raise InvalidInputError(
                f"{where}[{i}] is {s!r}: stop sequences must be non-empty strings (an empty one would stop at once); "
                f"remove it"
            )
    return tuple(stop)


def validate_common(model: Any) -> None:
    """Construction-time checks that need no model weights: index folder, forced adapter, stop, sources."""
    check_stop(model.stop)
    names: list[str] | None = None
    if model.index is not None:
        meta = check_index(model.index)  # IndexNotFoundError / IndexFormatError with a clear message
        names = [a["name"] for a in meta["adapters"]]
    elif model.router is not None:
        names = list(model.router.adapters)
    elif model.backend is None and not model.base_url:
        raise InvalidInputError(
            "give index=<routing index folder> (for example ariadne_integrations.demo.demo_index_path()), "
            "router=<AriadneRouter>, or backend=/base_url= with a fixed adapter"
        )
    if model.adapter is not None and model.adapter != BASE and names is not None and model.adapter not in names:
        raise UnknownAdapterError(
            f"adapter {model.adapter!r} is not in the index; known adapters: {names} (or {BASE!r} for the bare backbone)"
        )
    if model.index is not None and model.router is not None:
        raise InvalidInputError("give either index= or router=, not both")


def build_generator(model: Any) -> RoutedGenerator:
    """The RoutedGenerator for a model's fields; heavy parts stay lazy (and cached process-wide)."""
    backend: Any = model.backend
    if backend is None and model.base_url:
        from ariadne_integrations.runtime.openai_backend import OpenAICompatibleBackend

        key = model.api_key.get_secret_value() if hasattr(model.api_key, "get_secret_value") else model.api_key
        backend = OpenAICompatibleBackend(
            model.base_url, api_key=key, timeout=float(model.timeout or 60.0), max_retries=int(model.max_retries or 0),
            base_model_alias=model.backbone or "base",
        )
    if model.index is not None:
        return RoutedGenerator.from_index(
            model.index, backbone=model.backbone, max_loaded_adapters=model.max_loaded_adapters, backend=backend,
            adapter=model.adapter,
        )
    router = model.router
    if backend is None:
        from ariadne_integrations.runtime.adapters import AdapterRuntime

        def make_runtime() -> Any:
            paths = {n: p for n in router.adapters if (p := router.adapter_path(n))}
            return AdapterRuntime(backbone=model.backbone, adapters=paths, max_loaded_adapters=model.max_loaded_adapters)

        backend = make_runtime
    return RoutedGenerator(router, backend, adapter=model.adapter,
                           adapter_names=list(router.adapters) if router is not None else None)


def per_call_adapter(gen: RoutedGenerator, kwargs: dict[str, Any]) -> str | None:
    """A per-call ``adapter=`` or ``model=`` (OpenAI-style: the model name picks the LoRA adapter).

    ``model`` equal to the backbone's name (or ``"__base__"``) means the bare backbone.
    """
    adapter = kwargs.pop("adapter", None)
    model_kw = kwargs.pop("model", None)
    if adapter is None and model_kw is not None:
        if not isinstance(model_kw, str):
            raise InvalidInputError(f"model must be an adapter name (string), got {type(model_kw).__name__}")
        if model_kw in ("auto", "router"):
            return None
        if model_kw not in gen.adapters and model_kw != BASE and model_kw in _backbone_names(gen):
            return BASE
        adapter = model_kw
    if adapter is not None:
        gen.check_adapter(adapter)
    return adapter


def _backbone_names(gen: RoutedGenerator) -> set[str]:
    names = {DEFAULT_BACKBONE_NAME}
    try:
        names.add(gen.model_name)
    except Exception:  # noqa: BLE001 - a backend that cannot load yet just does not match
        pass
    return names


def make_config(model: Any, stop: list[str] | None, kwargs: dict[str, Any]) -> GenerationConfig:
    """GenerationConfig from the model's fields, overridden by per-call kwargs (unknown kwargs are an error)."""
    call = {k: kwargs.pop(k) for k in list(kwargs) if k in _CALL_SETTINGS}
    for k in list(kwargs):  # LangChain-internal extras (stream flag, ls_* tracing hints) are not settings
        if k in ("stream", "run_name", "callbacks", "tags", "metadata") or k.startswith("ls_"):
            kwargs.pop(k)
    if kwargs:
        raise InvalidInputError(f"unsupported call argument(s) {sorted(kwargs)}; supported: {sorted(_CALL_SETTINGS)}, adapter, model, stop")
    max_new = call.get("max_new_tokens", call.get("max_tokens", model.max_new_tokens))
    stops = check_stop(stop if stop is not None else model.stop)
    return GenerationConfig(
        max_new_tokens=int(max_new),
        temperature=float(call.get("temperature", model.temperature)),
        top_p=float(call.get("top_p", model.top_p)),
        top_k=call.get("top_k", model.top_k),
        repetition_penalty=call.get("repetition_penalty", model.repetition_penalty),
        stop=stops,
        seed=call.get("seed", model.seed),
        apply_chat_template=bool(getattr(model, "chat_template", True)),
    )


def result_info(r: RoutedResult) -> dict[str, Any]:
    """generation_info / response_metadata of one completion: decision + finish reason + token counts."""
    return {
        **decision_fields(r.decision, r.forced),
        "finish_reason": r.result.finish_reason,
        "stop_sequence": r.result.stop_sequence,
        "prompt_tokens": r.result.prompt_tokens,
        "completion_tokens": r.result.completion_tokens,
    }


def stream_info(decision: RouteDecision, forced: bool, final: Any) -> dict[str, Any]:
    return {
        **decision_fields(decision, forced),
        "finish_reason": final.finish_reason or "stop",
        "prompt_tokens": int(final.prompt_tokens or 0),
        "completion_tokens": int(final.completion_tokens or 0),
    }


def served_model_name(base: str, adapter: str | None) -> str:
    """``backbone:adapter`` (what answered), or the backbone name for the bare model."""
    return base if adapter is None else f"{base}:{adapter}"


def token_usage(results: list[GenerationResult]) -> dict[str, int]:
    p = sum(r.prompt_tokens for r in results)
    c = sum(r.completion_tokens for r in results)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


async def aiter_in_thread(make_iter: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
    """Run a blocking iterator in a worker thread and yield its items without blocking the event loop.

    If the consumer stops early, the worker stops at the next item and closes the iterator.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
    cancel = threading.Event()

    def put(kind: int, value: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
        except RuntimeError:  # loop already closed: the consumer is gone
            cancel.set()

    def worker() -> None:
        try:
            it = make_iter()
            try:
                for item in it:
                    if cancel.is_set():
                        break
                    put(0, item)
            finally:
                close = getattr(it, "close", None)
                if close is not None:
                    close()
            put(1, None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(2, exc)

    thread = threading.Thread(target=worker, name="ariadne-astream", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = await queue.get()
            if kind == 0:
                yield value
            elif kind == 1:
                return
            else:
                raise value
    finally:
        cancel.set()
