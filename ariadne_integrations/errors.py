"""Typed errors. Every public failure is one of these, so callers can catch what they mean.

Each subclasses the closest builtin too (ValueError, KeyError, FileNotFoundError) so that
code written against the builtins keeps working.
"""
from __future__ import annotations

import re
from typing import Any


class AriadneError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidInputError(AriadneError, ValueError):
    """A query, prompt, text list or parameter is empty, of the wrong type or out of range."""


class PromptTooLongError(InvalidInputError):
    """A prompt that does not fit the backbone's context window with room for ``max_new_tokens``.

    Why an error and not truncation: cutting either end silently drops the instruction or the question;
    the caller knows which part of its text can go. ``prompt_tokens`` / ``limit`` say by how much.
    """

    def __init__(self, message: str, prompt_tokens: int = 0, limit: int = 0) -> None:
        super().__init__(message)
        self.prompt_tokens = prompt_tokens
        self.limit = limit

    def __reduce__(self) -> Any:
        return (type(self), (str(self), self.prompt_tokens, self.limit))


class UnknownAdapterError(AriadneError, KeyError):
    """An adapter name that is not registered / not in the index."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown adapter"


class DuplicateAdapterError(AriadneError, ValueError):
    """An adapter name that is already present where a new one was expected."""


class DataFormatError(AriadneError, ValueError):
    """A data file (JSONL) with broken lines or missing fields; the message names file and line."""


class IndexFormatError(AriadneError, ValueError):
    """A routing index folder that is missing, truncated, corrupt or from a newer format."""


class IndexNotFoundError(IndexFormatError, FileNotFoundError):
    """The routing index folder or one of its files does not exist."""


class EmbedderMismatchError(AriadneError, ValueError):
    """Vectors or an index made with a different embedder than the one in use."""


class AdapterLoadError(AriadneError, ValueError):
    """An adapter folder that is missing, not a PEFT adapter, built for another base model, or whose
    weights hold no LoRA tensors or non-finite values."""


class PartialBatchError(AdapterLoadError):
    """Some rows of one batch could not be answered because their adapter failed to load.

    Why not fail the whole batch: the other rows were generated (in one batch) and are in ``results``
    (``None`` at a failed row); ``row_errors`` maps each failed row's index to its ``AdapterLoadError``.
    The message is the first failure's.
    """

    def __init__(self, message: str, results: list[Any], row_errors: dict[int, Exception]) -> None:
        super().__init__(message)
        self.results = results
        self.row_errors = row_errors

    def __reduce__(self) -> Any:  # picklable (process pools) with its results
        return (type(self), (str(self), self.results, self.row_errors))


class BackboneLoadError(AriadneError, RuntimeError):
    """The backbone model could not be found or loaded."""


class ServerError(AriadneError, RuntimeError):
    """The OpenAI-compatible server could not be reached or answered with an error."""


class ServerUnavailableError(ServerError, ConnectionError):
    """The OpenAI-compatible server could not be reached (not running, wrong ``base_url``), even after retries."""


class ServerTimeoutError(ServerError, TimeoutError):
    """The OpenAI-compatible server did not answer within ``timeout`` seconds, even after retries."""


class IndexWriteError(AriadneError, OSError):
    """A routing index could not be written (the path is not a folder, no space, no permission); nothing changed."""


class IndexOverwriteError(IndexWriteError, FileExistsError):
    """Saving into a non-empty folder that is not a routing index, without ``overwrite=True`` / ``--overwrite``."""


_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: object, limit: int | None = None) -> str:
    """``text`` made safe for one line of a message: controls, line separators, bidirectional overrides
    and lone surrogates become backslash escapes (other characters stay as they are); cut to ``limit``."""
    s = _UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], str(text))
    return s if limit is None or len(s) <= limit else s[: max(limit - 3, 0)] + "..."


class StructuredOutputError(AriadneError, ValueError):
    """A structured (JSON-schema constrained) answer that cannot be returned as valid JSON: cut by the
    token limit before the JSON was complete (raise ``max_new_tokens``), or, from a server that ignored
    the schema, text that is not JSON. Never returned silently as unparsable text."""


class MissingDependencyError(AriadneError, ImportError):
    """An optional dependency a feature needs is not installed; the message names the extra to install."""
