"""`ariadne serve`: the OpenAI-compatible HTTP server over an index (FastAPI and uvicorn are imported inside)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ariadne_integrations.cli._app import DEVICE_HELP, DTYPE_HELP, app, clean_errors, show
from ariadne_integrations.devices import check_device, check_dtype

API_KEY_ENV = "ARIADNE_API_KEY"  # the server's own constant (server/security.py); repeated here to keep --help light


@app.command("serve")
@clean_errors
def serve(
    index: Path = typer.Option(..., "--index", help="Routing index folder; its adapters are the only models served."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar=API_KEY_ENV, show_envvar=True,
                                          help="Require 'Authorization: Bearer KEY' on every route."),
    backbone: Optional[str] = typer.Option(None, "--backbone", help="Hub id or folder; default: embedded SmolLM2-135M-Instruct."),
    max_concurrent: int = typer.Option(64, "--max-concurrent", min=1,
                                       help="Requests answered at once; more are refused with 429."),
    max_tokens_limit: int = typer.Option(1024, "--max-tokens-limit", min=1, help="Largest max_tokens a request may ask for."),
    default_max_tokens: int = typer.Option(64, "--default-max-tokens", min=1, help="max_tokens when a request gives none."),
    max_prompt_tokens: int = typer.Option(4096, "--max-prompt-tokens", min=1, help="Longest prompt (tokens, chat template included)."),
    max_body_bytes: int = typer.Option(1_000_000, "--max-body-bytes", min=1, help="Largest request body (413 above)."),
    coalesce_window_ms: float = typer.Option(20.0, "--coalesce-window-ms", min=0.0, max=60_000.0,
                                             help="Requests arriving within this window share one batch (0: off)."),
    max_batch_size: int = typer.Option(32, "--max-batch-size", min=1, help="Most prompts in one coalesced batch."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn's log level."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    dtype: str = typer.Option("auto", "--dtype", help=DTYPE_HELP),
) -> None:
    """Serve the index's adapters behind an OpenAI-compatible API (model "ariadne" routes each request)."""
    from ariadne_integrations.core.shared import check_index
    from ariadne_integrations.server.app import serve as run_server
    from ariadne_integrations.server.schemas import ServerLimits
    from ariadne_integrations.server.security import bind_warning

    device, dtype = check_device(device), check_dtype(dtype)  # a misspelling fails before anything else
    if api_key is not None and not api_key.strip():
        api_key = None  # an empty --api-key / $ARIADNE_API_KEY means none (and is warned about below)
    limits = ServerLimits(max_body_bytes=max_body_bytes, max_tokens=max_tokens_limit,
                          default_max_tokens=min(default_max_tokens, max_tokens_limit), max_prompt_tokens=max_prompt_tokens,
                          max_concurrent=max_concurrent, coalesce_window_ms=coalesce_window_ms, max_batch_size=max_batch_size)
    check_index(index)  # a missing or broken index fails here, in one line, before anything loads
    warning = bind_warning(host, api_key)
    if warning:
        typer.echo(f"warning: {show(warning)}", err=True)
    typer.echo(f"serving {show(index)} on http://{show(host)}:{port}/v1 (model 'ariadne' routes; "
               f"{'API key required' if api_key else 'no API key'})", err=True)
    run_server(index, host=host, port=port, api_key=api_key, limits=limits, backbone=backbone, log_level=log_level, warn=False,
               device=device, dtype=dtype)
