"""The ``ariadne`` console script (typer).

- :mod:`._app`: the typer apps (``app``, ``index_app``) and the shared error handling; imports no command module.
- :mod:`.index_commands`: ``ariadne index build|info|add|remove|calibrate``.
- :mod:`.route_commands`: ``ariadne route``, ``ariadne eval``.
- :mod:`.runtime_commands`: ``ariadne train``, ``ariadne generate``, ``ariadne export-gguf``.
- :mod:`.serve_commands`: ``ariadne serve`` (the OpenAI-compatible server, extra ``serve``).

Each command module imports only :mod:`._app` (and the library, lazily inside its commands, so
``ariadne --help`` stays fast); :func:`main` imports them all, which registers their commands, and runs
the app. Importing this package registers nothing by itself.
"""
from __future__ import annotations

from ariadne_integrations.cli._app import app

__all__ = ["app", "main", "register_commands"]


def register_commands() -> None:
    """Import every command module, which adds its commands to :data:`app` (idempotent)."""
    # Order = order in `ariadne --help` (commands first, then the `index` group).
    from ariadne_integrations.cli import index_commands, route_commands, runtime_commands, serve_commands


def main() -> None:
    """Entry point of the ``ariadne`` console script and of ``python -m ariadne_integrations.cli``."""
    register_commands()
    app()
