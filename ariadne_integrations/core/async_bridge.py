"""Consume a blocking iterator from an event loop without blocking the loop.

Why: the local runtime streams from a worker thread; ``astream`` / ``astream_chat`` must yield its
chunks to asyncio code as they come, and stop the worker when the consumer stops early.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Any, AsyncIterator, Callable, Iterator, TypeVar

__all__ = ["aiter_in_thread"]

T = TypeVar("T")


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
