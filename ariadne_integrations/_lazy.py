"""Lazy public names for the integration packages: importing them loads neither torch nor the framework."""
from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy_exports(
    package: str,
    names: Mapping[str, str],
    namespace: dict[str, Any],
    requirement_prefix: str | None = None,
    install_hint: str = "",
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """(``__getattr__``, ``__dir__``) for ``package``: each name imports its module on first access.

    A missing framework (a module starting with ``requirement_prefix``) becomes an ImportError that
    says what to install; the resolved value is cached in the package's ``namespace``.
    """
    exported = sorted(names)

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        try:
            value = getattr(importlib.import_module(module), name)
        except ModuleNotFoundError as exc:
            if requirement_prefix and exc.name and exc.name.startswith(requirement_prefix):
                raise ImportError(install_hint) from exc
            raise
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return exported

    return __getattr__, __dir__
