"""OpenAI-style error bodies, and which HTTP status each failure gets.

Why: OpenAI clients (the ``openai`` SDK, LangChain's ``ChatOpenAI``) read ``{"error": {"message",
"type", "param", "code"}}`` and choose their exception class and retry policy by status. A client
mistake must therefore be a 4xx with that body (never a 500), and the server's own failure a 5xx whose
message leaks no internals.
"""
from __future__ import annotations

from typing import Any

from ariadne_integrations.errors import (
    AdapterLoadError,
    AriadneError,
    BackboneLoadError,
    InvalidInputError,
    MissingDependencyError,
    StructuredOutputError,
    UnknownAdapterError,
    printable,
)

__all__ = ["APIError", "error_body", "status_of"]

_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error", 405: "invalid_request_error",
    413: "invalid_request_error", 429: "rate_limit_error", 500: "server_error", 503: "server_error",
}


class APIError(Exception):
    """A failure to report with ``status`` and an OpenAI-style body (raised by the routes and checks)."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """``{"error": {...}}`` as OpenAI writes it; the message is made printable and cut to 1,000 characters."""
    kind = _TYPES.get(status, "invalid_request_error" if 400 <= status < 500 else "server_error")
    return {"error": {"message": printable(message, 1000), "type": kind, "param": param, "code": code}}


def status_of(exc: AriadneError) -> tuple[int, str | None]:
    """(status, code) for one of the package's typed errors raised while serving a request.

    A bad request (input, unknown model, schema) is a 4xx; an adapter or backbone that cannot load is
    503 (this server cannot serve the model); any other typed error is the server's own (500).
    """
    if isinstance(exc, UnknownAdapterError):
        return 404, "model_not_found"
    if isinstance(exc, (InvalidInputError, StructuredOutputError)):
        return 400, None
    if isinstance(exc, MissingDependencyError):
        return 400, "unsupported"
    if isinstance(exc, (AdapterLoadError, BackboneLoadError)):
        return 503, "model_unavailable"
    return 500, None
