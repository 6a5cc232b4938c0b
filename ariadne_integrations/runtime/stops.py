"""Stop strings for both generation backends: cut a finished text, and stream without ever showing one.

Why a hold-back when streaming: a stop string can arrive split across pieces (``"EN"`` then ``"D"``),
so the tail that could still be the start of a stop string is kept back until a later piece (or the
end of the stream) decides it. Everything before that tail is emitted at once. The local runtime
(``AdapterRuntime.stream``) and the server backend (``OpenAICompatibleBackend.stream``) both use
:class:`StopHoldBack`, so they cut the same text at the same place.
"""
from __future__ import annotations

from typing import Sequence

__all__ = ["StopHoldBack", "cut_at_stop", "stop_prefix_len"]


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, str | None]:
    """Cut ``text`` at the earliest stop string: (text before it, the stop string found or None).

    When two stop strings start at the same place, the one listed first wins.
    """
    best: tuple[int, str] | None = None
    for s in stops:
        i = text.find(s)
        if i != -1 and (best is None or i < best[0]):
            best = (i, s)
    if best is None:
        return text, None
    return text[: best[0]], best[1]


def stop_prefix_len(text: str, stops: Sequence[str]) -> int:
    """Length of the longest end of ``text`` that is the start (not the whole) of a stop string.

    That end must be held back while streaming; the rest of ``text`` can never become part of a
    stop string, whatever comes next.
    """
    longest = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), longest, -1):
            if text.endswith(s[:k]):
                longest = k
                break
    return longest


class StopHoldBack:
    """Streamed text in, text safe to show out: nothing from the first stop string on is ever emitted.

    ``feed`` each piece as it arrives and emit what it returns; at the end of the stream emit
    ``flush()``. Once a stop string is found, ``found`` names it and everything after is dropped
    (the producer may keep going until it notices). With no stop strings, pieces pass unchanged.
    The text is cut as soon as a stop string is complete, as servers and transformers'
    ``stop_strings`` stop: when one stop string lies inside a longer one, which wins can depend on
    where the pieces break.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops: tuple[str, ...] = tuple(stops)
        self.found: str | None = None
        self._pending = ""

    def feed(self, piece: str) -> str:
        """Take the next piece; return the text that can be shown now (possibly empty)."""
        if self.found is not None or not piece:
            return ""
        text = self._pending + piece
        cut, found = cut_at_stop(text, self.stops)
        if found is not None:
            self.found = found
            self._pending = ""
            return cut
        keep = stop_prefix_len(text, self.stops)
        self._pending = text[len(text) - keep:] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        """The end of the stream: the held-back tail was not a stop string after all (empty once stopped)."""
        rest, self._pending = self._pending, ""
        return rest
