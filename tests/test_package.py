"""Package-level guarantees: light import, typed errors, console script, packaged files."""
from __future__ import annotations

import subprocess
import sys

import pytest

import ariadne_integrations as ai


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sorted(sys.modules)))"],
        check=True, capture_output=True, text=True,
    ).stdout
    return set(out.split())


def test_top_level_import_is_light() -> None:
    mods = _modules_after("import ariadne_integrations")
    for heavy in ("torch", "transformers", "langchain_core", "llama_index", "sentence_transformers", "peft"):
        assert heavy not in mods, f"`import ariadne_integrations` pulled in {heavy}"


def test_integration_packages_import_lazily() -> None:
    mods = _modules_after("import ariadne_integrations.langchain, ariadne_integrations.llama_index")
    assert "torch" not in mods


def test_unknown_attribute_is_attribute_error() -> None:
    with pytest.raises(AttributeError):
        ai.NoSuchThing  # noqa: B018


def test_errors_are_typed_and_builtin_compatible() -> None:
    assert issubclass(ai.InvalidInputError, ValueError)
    assert issubclass(ai.UnknownAdapterError, KeyError)
    assert issubclass(ai.IndexNotFoundError, FileNotFoundError)
    assert issubclass(ai.EmbedderMismatchError, ai.AriadneError)
    assert str(ai.UnknownAdapterError("no adapter 'x'")) == "no adapter 'x'"


def test_console_script_help() -> None:
    out = subprocess.run([sys.executable, "-m", "ariadne_integrations.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for cmd in ("index", "route", "eval", "train"):
        assert cmd in out.stdout
