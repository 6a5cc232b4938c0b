"""The layering of docs/ARCHITECTURE.md, checked on the source: which package may import which.

An import anywhere in a module counts (lazy imports inside functions too), except that third-party
heavy frameworks are only forbidden at module level where the rule says "at import time".
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "ariadne_integrations"

# package -> internal packages it must never import
FORBIDDEN_INTERNAL = {
    "routing": ("core", "runtime", "langchain", "llama_index", "cli", "demo"),
    "runtime": ("routing", "core", "langchain", "llama_index", "cli", "demo"),
    "core": ("langchain", "llama_index", "cli", "demo"),
    "langchain": ("llama_index", "runtime", "cli"),
    "llama_index": ("langchain", "runtime", "cli"),
    "cli": ("langchain", "llama_index"),
    "server": ("runtime", "langchain", "llama_index", "cli", "demo"),
}
# package -> third-party top-level modules it must not import at module level
FORBIDDEN_AT_IMPORT = {
    "routing": ("torch", "transformers", "sentence_transformers", "langchain_core", "llama_index", "matplotlib"),
    "core": ("torch", "transformers", "langchain_core", "llama_index"),
    "runtime": ("langchain_core", "llama_index"),
    "server": ("torch", "transformers", "langchain_core", "llama_index"),
}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level) for every import statement in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    for node in tree.body:  # `if TYPE_CHECKING:` blocks are module level but never run
        if isinstance(node, ast.If):
            top.update(id(n) for n in node.body)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, id(node) in top))
    return out


def _modules(package: str) -> list[Path]:
    return sorted((PKG / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN_INTERNAL))
def test_packages_import_only_what_the_layering_allows(package):
    bad = []
    for path in _modules(package):
        for mod, _ in _imports(path):
            parts = mod.split(".")
            if parts[0] == "ariadne_integrations" and len(parts) > 1 and parts[1] in FORBIDDEN_INTERNAL[package]:
                bad.append(f"{path.relative_to(PKG)} imports {mod}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("package", sorted(FORBIDDEN_AT_IMPORT))
def test_heavy_frameworks_stay_out_of_import_time(package):
    bad = [f"{p.relative_to(PKG)} imports {m} at module level"
           for p in _modules(package) for m, top in _imports(p)
           if top and m.split(".")[0] in FORBIDDEN_AT_IMPORT[package] and not _type_checking_only(p, m)]
    assert not bad, "\n".join(bad)


def _type_checking_only(path: Path, module: str) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for n in ast.walk(node):
                if isinstance(n, ast.ImportFrom) and n.module == module:
                    return True
                if isinstance(n, ast.Import) and any(a.name == module for a in n.names):
                    return True
    return False


def test_errors_and_constants_depend_on_nothing_internal():
    for name in ("errors.py", "constants.py"):  # jsonl.py may use errors only
        assert not [m for m, _ in _imports(PKG / name) if m.startswith("ariadne_integrations")]


def test_jsonl_reader_depends_on_errors_only():
    assert {m for m, _ in _imports(PKG / "jsonl.py") if m.startswith("ariadne_integrations")} == {"ariadne_integrations.errors"}


def test_device_choice_depends_on_errors_only_and_imports_torch_lazily():
    """runtime and routing both import devices.py, so it may import neither (nor torch at import time)."""
    imports = _imports(PKG / "devices.py")
    assert {m for m, _ in imports if m.startswith("ariadne_integrations")} == {"ariadne_integrations.errors"}
    assert not [m for m, top in imports if top and m.split(".")[0] == "torch"]
