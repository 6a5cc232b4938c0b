"""LangChain integration: AriadneLLM (BaseLLM), ChatAriadne (BaseChatModel), AriadneRouterRunnable.

Needs ``langchain-core`` (``pip install ariadne-integrations[langchain]``). Names import lazily, so
``import ariadne_integrations.langchain`` is cheap and no model loads before the first call.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "AriadneLLM": "ariadne_integrations.langchain.llm",
    "ChatAriadne": "ariadne_integrations.langchain.chat_model",
    "AriadneRouterRunnable": "ariadne_integrations.langchain.router_runnable",
    "AriadneRouteDispatch": "ariadne_integrations.langchain.router_runnable",
    "route_to_chains": "ariadne_integrations.langchain.router_runnable",
    "to_chat_messages": "ariadne_integrations.langchain.chat_model",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ariadne_integrations.langchain' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("langchain_core"):
            raise ImportError(
                "the LangChain integration needs langchain-core: pip install 'ariadne-integrations[langchain]'"
            ) from exc
        raise
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover
    from ariadne_integrations.langchain.chat_model import ChatAriadne, to_chat_messages  # noqa: F401
    from ariadne_integrations.langchain.llm import AriadneLLM  # noqa: F401
    from ariadne_integrations.langchain.router_runnable import (  # noqa: F401
        AriadneRouteDispatch,
        AriadneRouterRunnable,
        route_to_chains,
    )
