"""LlamaIndex integration: ``AriadneSelector`` (a ``BaseSelector`` for ``RouterQueryEngine`` /
``RouterRetriever``), ``AriadneLlamaLLM`` (the routed backbone as a ``CustomLLM``) and
``AriadneEmbedding`` (the package's offline embedder as a ``BaseEmbedding``).

Names load lazily, so importing this package pulls neither torch nor the models. Nothing here reads
``llama_index.core.Settings.llm`` (which would resolve to OpenAI): pass ``llm=`` explicitly to the
engines (``AriadneLlamaLLM`` or ``MockLLM``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ariadne_integrations._lazy import lazy_exports

_LAZY = {
    "AriadneSelector": "ariadne_integrations.llama_index.selector",
    "AriadneLlamaLLM": "ariadne_integrations.llama_index.llm",
    "AriadneEmbedding": "ariadne_integrations.llama_index.embedding",
    "query_from_prompt": "ariadne_integrations.llama_index.llm",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(
    __name__, _LAZY, globals(), "llama_index",
    "the LlamaIndex integration needs llama-index-core: pip install 'ariadne-integrations[llamaindex]'",
)


if TYPE_CHECKING:  # pragma: no cover
    from ariadne_integrations.llama_index.embedding import AriadneEmbedding
    from ariadne_integrations.llama_index.llm import AriadneLlamaLLM, query_from_prompt
    from ariadne_integrations.llama_index.selector import AriadneSelector
