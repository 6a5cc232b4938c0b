"""The CLI package's shape: no import circle, light imports, every command registered by the entry points."""
from __future__ import annotations

import subprocess
import sys

import pytest

PKG = "ariadne_integrations.cli"
COMMAND_MODULES = ("index_commands", "route_commands", "runtime_commands", "serve_commands")
COMMANDS = ("route", "eval", "train", "generate", "export-gguf", "serve", "index")
INDEX_COMMANDS = ("build", "info", "add", "remove", "calibrate")
HEAVY = ("torch", "transformers", "sentence_transformers", "peft", "numpy", "matplotlib")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sorted(sys.modules)))"],
        check=True, capture_output=True, text=True,
    ).stdout
    return set(out.split())


def _cli_modules(mods: set[str]) -> set[str]:
    return {m for m in mods if m.startswith(PKG + ".")}


@pytest.mark.parametrize("module", ["", "._app"])
def test_shared_module_imports_no_command_module(module: str) -> None:
    mods = _modules_after(f"import {PKG}{module}")
    assert _cli_modules(mods) == {f"{PKG}._app"}


@pytest.mark.parametrize("module", COMMAND_MODULES)
def test_command_module_imports_only_the_shared_module(module: str) -> None:
    mods = _modules_after(f"import {PKG}.{module}")
    assert _cli_modules(mods) == {f"{PKG}._app", f"{PKG}.{module}"}
    for heavy in HEAVY:
        assert heavy not in mods, f"importing {PKG}.{module} pulled in {heavy}"


def _help(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", PKG, *args, "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_python_m_help_lists_every_command() -> None:
    words = set(_help().split())
    assert set(COMMANDS) <= words
    assert set(INDEX_COMMANDS) <= set(_help("index").split())


def test_main_registers_every_command() -> None:
    code = (f"import {PKG} as cli\ncli.register_commands()\n"
            "import typer.main\ngroup = typer.main.get_command(cli.app)\n"
            "print(' '.join(group.commands)); print(' '.join(group.commands['index'].commands))")
    top, index = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.splitlines()
    assert top.split() == list(COMMANDS)
    assert index.split() == list(INDEX_COMMANDS)
