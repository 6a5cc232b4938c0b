"""LangChain integration: AriadneLLM (BaseLLM), ChatAriadne (BaseChatModel), AriadneRouterRunnable.

Needs ``langchain-core`` (``pip install ariadne-integrations[langchain]``). Names import lazily, so
``import ariadne_integrations.langchain`` is cheap and no model loads before the first call.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ariadne_integrations._lazy import lazy_exports

_LAZY = {
    "AriadneLLM": "ariadne_integrations.langchain.llm",
    "ChatAriadne": "ariadne_integrations.langchain.chat_model",
    "AriadneRouterRunnable": "ariadne_integrations.langchain.router_runnable",
    "AriadneRouteDispatch": "ariadne_integrations.langchain.router_runnable",
    "route_to_chains": "ariadne_integrations.langchain.router_runnable",
    "to_chat_messages": "ariadne_integrations.langchain.chat_model",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(
    __name__, _LAZY, globals(), "langchain_core",
    "the LangChain integration needs langchain-core: pip install 'ariadne-integrations[langchain]'",
)


if TYPE_CHECKING:  # pragma: no cover
    from ariadne_integrations.langchain.chat_model import ChatAriadne, to_chat_messages
    from ariadne_integrations.langchain.llm import AriadneLLM
    from ariadne_integrations.langchain.router_runnable import (
        AriadneRouteDispatch,
        AriadneRouterRunnable,
        route_to_chains,
    )
