"""LlamaIndex integration: ``AriadneSelector`` (a ``BaseSelector`` for ``RouterQueryEngine`` /
``RouterRetriever``), ``AriadneLlamaLLM`` (the routed backbone as a ``CustomLLM``) and
``AriadneEmbedding`` (the package's offline embedder as a ``BaseEmbedding``).

Names load lazily, so importing this package pulls neither torch nor the models. Nothing here reads
``llama_index.core.Settings.llm`` (which would resolve to OpenAI): pass ``llm=`` explicitly to the
engines (``AriadneLlamaLLM`` or ``MockLLM``).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "AriadneSelector": "ariadne_integrations.llama_index.selector",
    "AriadneLlamaLLM": "ariadne_integrations.llama_index.llm",
    "AriadneEmbedding": "ariadne_integrations.llama_index.embedding",
    "query_from_prompt": "ariadne_integrations.llama_index.llm",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ariadne_integrations.llama_index' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
        if exc.name and exc.name.startswith("llama_index"):
            raise ImportError(
                "the LlamaIndex integration needs llama-index-core: pip install 'ariadne-integrations[llamaindex]'"
            ) from exc
        raise
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover
    from ariadne_integrations.llama_index.embedding import AriadneEmbedding  # noqa: F401
    from ariadne_integrations.llama_index.llm import AriadneLlamaLLM, query_from_prompt  # noqa: F401
    from ariadne_integrations.llama_index.selector import AriadneSelector  # noqa: F401
