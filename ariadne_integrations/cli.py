"""The ``ariadne`` console script. Subcommands live in small modules and register themselves here."""
from __future__ import annotations

import logging

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Training-free adapter routing (ARIADNE).")


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at INFO level.")) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def _register() -> None:
    # Each module adds its commands to `app`; imported lazily-cheap (no torch at import time).
    from ariadne_integrations import cli_routing, cli_runtime  # noqa: F401


def main() -> None:
    # Import through the package so `python -m ariadne_integrations.cli` registers on the same `app`.
    from ariadne_integrations import cli as package_cli

    package_cli._register()
    package_cli.app()


if __name__ == "__main__":  # pragma: no cover
    main()
