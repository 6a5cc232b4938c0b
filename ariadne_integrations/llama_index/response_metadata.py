"""Which adapter answered, in the ``Response.metadata`` of any query engine that uses ``AriadneLlamaLLM``.

Why: a LlamaIndex query engine builds its ``Response`` from the retrieved nodes; the LLM's
``additional_kwargs`` (where the routing decision lives) never reach it. An instrumentation event
handler on LlamaIndex's root dispatcher opens a record at every ``QueryStartEvent``;
``AriadneLlamaLLM`` adds each call's routing metadata to the records open in its context; the
``QueryEndEvent`` copies them into ``response.metadata``:

- ``ariadne_adapter``: the adapter of the last LLM call (None = bare backbone),
- ``ariadne_routing``: one entry per LLM call of the query (adapter, score, margin, abstained, forced, ...).

Nested engines (a ``RouterQueryEngine`` over query engines) get the records of their own calls.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from contextvars import ContextVar
from typing import Any

from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.query import QueryEndEvent, QueryStartEvent

__all__ = ["install", "record"]

_OPEN: ContextVar[tuple[str, ...]] = ContextVar("ariadne_open_queries", default=())
_RECORDS: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
_LOCK = threading.Lock()
_MAX_OPEN = 4096  # a query that raised never ends: forget the oldest records past this many
_INSTALLED = False


class _QueryAdapterHandler(BaseEventHandler):
    """Opens a record per query span and attaches it to the response when the query ends."""

    @classmethod
    def class_name(cls) -> str:
        return "AriadneQueryAdapterHandler"

    def handle(self, event: BaseEvent, **kwargs: Any) -> Any:
        span = getattr(event, "span_id", None)
        if not span:
            return None
        if isinstance(event, QueryStartEvent):
            with _LOCK:
                _RECORDS[span] = []
                while len(_RECORDS) > _MAX_OPEN:
                    _RECORDS.popitem(last=False)
            _OPEN.set((*_OPEN.get(), span))
        elif isinstance(event, QueryEndEvent):
            with _LOCK:
                calls = _RECORDS.pop(span, None)
            _OPEN.set(tuple(s for s in _OPEN.get() if s != span))
            response = event.response
            if calls and hasattr(response, "metadata"):
                response.metadata = {**(response.metadata or {}), "ariadne_adapter": calls[-1]["adapter"],
                                     "ariadne_routing": calls}
        return None


def install() -> None:
    """Register the handler on the root dispatcher (once per process)."""
    global _INSTALLED
    with _LOCK:
        if _INSTALLED:
            return
        get_dispatcher().add_event_handler(_QueryAdapterHandler())
        _INSTALLED = True


def record(metadata: dict[str, Any]) -> None:
    """Add one LLM call's routing metadata to every query open in this context."""
    spans = _OPEN.get()
    if not spans:
        return
    entry = {k: v for k, v in metadata.items() if k != "scores"}
    with _LOCK:
        for span in spans:
            calls = _RECORDS.get(span)
            if calls is not None:
                calls.append(entry)
