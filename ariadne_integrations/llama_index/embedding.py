"""AriadneEmbedding: the package's embedder (offline MiniLM by default) as a LlamaIndex ``BaseEmbedding``.

Why: LlamaIndex's ``Settings.embed_model`` defaults to OpenAI. This lets document indices and
LlamaIndex's own ``EmbeddingSingleSelector`` use the very embedder the ARIADNE router uses, offline,
so comparisons are like for like and nothing reaches the network.
"""
from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any, List

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr

if TYPE_CHECKING:  # pragma: no cover
    from ariadne_integrations.routing.embedders import Embedder

__all__ = ["AriadneEmbedding"]


class AriadneEmbedding(BaseEmbedding):
    """Wrap an :class:`~ariadne_integrations.routing.embedders.Embedder` (or a model path / id).

    ``AriadneEmbedding()`` is the offline default embedder; the model loads on the first call and is
    shared with every router in the process. Vectors are unit-norm, so cosine = dot product.
    """

    _embedder: Any = PrivateAttr(default=None)

    def __init__(self, embedder: Embedder | str | os.PathLike[str] | None = None, **kwargs: Any) -> None:
        from ariadne_integrations.routing.embedders import load_embedder

        emb = load_embedder(embedder)
        kwargs.setdefault("model_name", str(getattr(emb, "name", "ariadne-embedder")))
        super().__init__(**kwargs)
        self._embedder = emb

    @classmethod
    def class_name(cls) -> str:
        return "AriadneEmbedding"

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    def _get_query_embedding(self, query: str) -> List[float]:
        return self._embedder.embed([query])[0].tolist()

    def _get_text_embedding(self, text: str) -> List[float]:
        return self._embedder.embed([text])[0].tolist()

    def _get_text_embeddings(self, texts: List[str]) -> List[List[float]]:
        """One batched forward pass for the whole list (LlamaIndex calls this per embed_batch_size)."""
        return self._embedder.embed(list(texts)).tolist()

    async def _aget_query_embedding(self, query: str) -> List[float]:
        return await asyncio.to_thread(self._get_query_embedding, query)

    async def _aget_text_embedding(self, text: str) -> List[float]:
        return await asyncio.to_thread(self._get_text_embedding, text)
