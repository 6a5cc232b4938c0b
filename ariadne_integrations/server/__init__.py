"""An OpenAI-compatible HTTP server over the routed in-process runtime (``ariadne serve``).

Needs the ``serve`` extra (FastAPI + uvicorn: ``pip install 'ariadne-integrations[serve]'``). Names
import lazily, so ``import ariadne_integrations.server`` loads neither FastAPI nor a model.

- :mod:`.app`: :func:`create_app` (the FastAPI app: ``/v1/models``, ``/v1/chat/completions``,
  ``/v1/completions``, SSE streaming) and :func:`serve` (uvicorn, with the bind-address check);
- :mod:`.schemas`: the request bodies (pydantic) and the limits every request is checked against;
- :mod:`.security`: the bearer-key check (constant time) and the loopback check;
- :mod:`.errors`: OpenAI-style error bodies and the status of each of the package's typed errors.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ariadne_integrations._lazy import lazy_exports

_LAZY = {
    "create_app": "ariadne_integrations.server.app",
    "serve": "ariadne_integrations.server.app",
    "ServerLimits": "ariadne_integrations.server.schemas",
    "ROUTED_MODEL": "ariadne_integrations.server.schemas",
    "bind_warning": "ariadne_integrations.server.security",
    "is_loopback": "ariadne_integrations.server.security",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(
    __name__, _LAZY, globals(), "fastapi",
    "the server needs FastAPI and uvicorn: pip install 'ariadne-integrations[serve]'",
)

if TYPE_CHECKING:  # pragma: no cover
    from ariadne_integrations.server.app import create_app, serve
    from ariadne_integrations.server.schemas import ROUTED_MODEL, ServerLimits
    from ariadne_integrations.server.security import bind_warning, is_loopback
