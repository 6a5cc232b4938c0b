"""The ``ariadne`` typer apps and the error handling every command shares.

This module imports no command module: the command modules import it and add their commands to
:data:`app` / :data:`index_app`; :func:`ariadne_integrations.cli.main` imports them all and runs
:data:`app`. (It is ``_app`` rather than ``app`` so that the module does not shadow the
``ariadne_integrations.cli.app`` attribute, the typer object.)

Every failure prints one line to stderr (``error: ...``) and exits with code 2, without a traceback:
the package's typed errors and OS errors say what to fix; anything else is reported as unexpected (the
traceback is logged with ``--verbose``). User-supplied text is echoed through :func:`show`, so a control
character or an undecodable byte in an argument cannot break or forge output lines.
"""
from __future__ import annotations

import functools
import logging
import sys
from typing import Any, Callable, TypeVar

import typer
import typer.core

from ariadne_integrations.errors import AriadneError, printable

__all__ = ["app", "index_app", "fail", "clean_errors", "show"]

log = logging.getLogger(__name__)

DEVICE_HELP = "Where the backbone runs: auto (CUDA when available, else CPU), cpu, cuda, cuda:N or mps."
DTYPE_HELP = "Backbone weights: auto (bf16/fp16 on a GPU, fp32 on CPU), float32, bfloat16 or float16."


class _OneLineErrors(typer.core.TyperGroup):
    """The top-level group: usage errors (an unknown option, a value typer cannot convert, such as a path
    with a NUL byte) print one ``error:`` line and exit 2, like every other failure, instead of a panel."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.update(zip(("args", "prog_name", "complete_var", "standalone_mode"), args))
        standalone = kwargs.pop("standalone_mode", True)
        if not standalone:
            return super().main(standalone_mode=False, **kwargs)
        try:
            rv = super().main(standalone_mode=False, **kwargs)
        except Exception as exc:
            # click's exceptions, by shape: typer vendors its own copy of click (typer._click) in recent releases
            if type(exc).__name__ == "Abort":
                typer.echo("error: aborted", err=True)
                sys.exit(2)
            if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
                raise
            if type(exc).__name__ == "NoArgsIsHelpError":  # `ariadne` alone: the help text
                exc.show()  # type: ignore[attr-defined]
                sys.exit(exc.exit_code)
            ctx = getattr(exc, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            typer.echo(f"error: {show(exc.format_message())}{hint}", err=True)
            sys.exit(2)
        sys.exit(rv if isinstance(rv, int) and not isinstance(rv, bool) else 0)


app = typer.Typer(cls=_OneLineErrors, no_args_is_help=True, add_completion=False,
                  help="Training-free adapter routing (ARIADNE).")
"""The ``ariadne`` command."""

index_app = typer.Typer(no_args_is_help=True, help="Build, inspect and change routing indices.")
"""The ``ariadne index`` command group."""
app.add_typer(index_app, name="index")


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at INFO level.")) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


F = TypeVar("F", bound=Callable[..., Any])


def show(text: object) -> str:
    """``text`` safe to print on one line (controls, line breaks and lone surrogates as escapes)."""
    return printable(text)


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` to stderr and return the exit (code 2) for the caller to raise."""
    typer.echo(f"error: {show(message)}", err=True)
    return typer.Exit(code=2)


def clean_errors(fn: F) -> F:
    """Turn every failure of a command into one stderr line + exit code 2 (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AriadneError as exc:
            raise fail(str(exc)) from None
        except OSError as exc:  # a file the user named: missing, a folder, no permission, disk full
            raise fail(str(exc)) from None
        except Exception as exc:  # the promise is no traceback; -v logs it
            if isinstance(exc, (typer.Exit, typer.Abort)) or type(exc).__module__.startswith(("typer", "click")):
                raise  # an exit or a usage error: the app reports it
            log.info("unexpected error in %s", fn.__name__, exc_info=True)
            raise fail(f"unexpected {type(exc).__name__}: {exc} (run with --verbose for the traceback)") from None

    return wrapper  # type: ignore[return-value]
