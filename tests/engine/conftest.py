"""The llama.cpp engine tests: a real `python -m llama_cpp.server` on loopback (one per module).

They skip when llama-cpp-python[server] is not installed, unless $ARIADNE_REQUIRE_ENGINE is set (`make test-engine`
sets it after building and installing the cached wheel): then a missing engine fails them.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

REQUIRE_ENGINE_VAR = "ARIADNE_REQUIRE_ENGINE"


def engine_required() -> bool:
    return os.environ.get(REQUIRE_ENGINE_VAR, "").strip().lower() not in ("", "0", "false", "no")


def require_engine() -> None:
    from ariadne_integrations.runtime.llamacpp_server import llamacpp_available

    if llamacpp_available():
        return
    why = "llama-cpp-python[server] is not installed (run `make test-engine`, which builds and installs it)"
    if engine_required():
        pytest.fail(f"{why}, and {REQUIRE_ENGINE_VAR} is set: the llama.cpp engine tests must run here", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="session")
def llamacpp_server() -> Iterator[object]:
    """The demo backbone GGUF under alias "base" and every demo adapter, exported to GGUF, under its own name."""
    require_engine()
    from ariadne_integrations.demo import demo_adapter_paths
    from ariadne_integrations.runtime.llamacpp_server import LlamaCppServer

    t0 = time.perf_counter()
    with LlamaCppServer(demo_adapter_paths()) as server:
        print(f"\n[engine] llama.cpp server ready at {server.base_url} in {time.perf_counter() - t0:.1f} s "
              f"(export + start)")
        yield server
