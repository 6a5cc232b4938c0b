"""The llama.cpp server configuration, without starting a server (no llama-cpp-python needed)."""
from __future__ import annotations

import pytest

from ariadne_integrations.errors import InvalidInputError, MissingDependencyError
from ariadne_integrations.runtime import llamacpp_server
from ariadne_integrations.runtime.llamacpp_server import LlamaCppServer, free_port, server_config


def test_one_entry_per_alias_with_the_base_first() -> None:
    cfg = server_config("/m/backbone.gguf", {"sql": "/a/sql.gguf", "date_iso": "/a/date.gguf"}, port=8123, n_threads=2)
    assert cfg["port"] == 8123 and cfg["host"] == "127.0.0.1"
    assert cfg["interrupt_requests"] is False  # else a new request cuts the running one (NOTES §7)
    aliases = [m["model_alias"] for m in cfg["models"]]
    assert aliases == ["base", "sql", "date_iso"]
    assert all(m["model"] == "/m/backbone.gguf" and m["n_threads"] == 2 for m in cfg["models"])
    assert "lora_path" not in cfg["models"][0] and cfg["models"][1]["lora_path"] == "/a/sql.gguf"
    assert all("chat_format" not in m for m in cfg["models"])  # the GGUF's own template, as in process
    assert server_config("/m.gguf", {}, chat_format="chatml")["models"][0]["chat_format"] == "chatml"


def test_an_adapter_named_like_the_base_alias_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="base model's alias"):
        server_config("/m.gguf", {"base": "/a.gguf"})


def test_free_port_and_missing_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    assert 0 < free_port() < 65536
    monkeypatch.setattr(llamacpp_server, "llamacpp_available", lambda: False)
    server = LlamaCppServer({})
    with pytest.raises(MissingDependencyError, match="make engine"):
        server.start()
    with pytest.raises(Exception, match="not started"):
        _ = server.base_url
