"""The ``ariadne`` typer apps and the error handling every command shares.

This module imports no command module: the command modules import it and add their commands to
:data:`app` / :data:`index_app`; :func:`ariadne_integrations.cli.main` imports them all and runs
:data:`app`. (It is ``_app`` rather than ``app`` so that the module does not shadow the
``ariadne_integrations.cli.app`` attribute, the typer object.)

Every expected failure prints one line to stderr (``error: ...``) and exits with code 2, without a
traceback.
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Callable, TypeVar

import typer

from ariadne_integrations.errors import AriadneError

__all__ = ["app", "index_app", "fail", "clean_errors"]

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Training-free adapter routing (ARIADNE).")
"""The ``ariadne`` command."""

index_app = typer.Typer(no_args_is_help=True, help="Build, inspect and change routing indices.")
"""The ``ariadne index`` command group."""
app.add_typer(index_app, name="index")


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at INFO level.")) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` to stderr and return the exit (code 2) for the caller to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def clean_errors(fn: F) -> F:
    """Turn the package's typed errors (and missing files) into one stderr line + exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except (AriadneError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            raise fail(str(exc)) from None

    return wrapper  # type: ignore[return-value]
