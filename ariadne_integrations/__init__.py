"""ariadne-integrations: pick the right LoRA adapter for every query, training-free.

Names are imported lazily so that ``import ariadne_integrations`` stays fast and does not pull
torch, transformers, LangChain or LlamaIndex until they are used.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ariadne_integrations._lazy import lazy_exports

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    # routing engine
    "AriadneRouter": "ariadne_integrations.routing.router",
    "RouteDecision": "ariadne_integrations.routing.decision",
    "Embedder": "ariadne_integrations.routing.embedders",
    "SentenceTransformerEmbedder": "ariadne_integrations.routing.embedders",
    "default_embedder": "ariadne_integrations.routing.embedders",
    "load_embedder": "ariadne_integrations.routing.embedders",
    "evaluate_router": "ariadne_integrations.routing.evaluate",
    "CentroidIndex": "ariadne_integrations.routing.centroid_index",
    "decide": "ariadne_integrations.routing.decision",
    "EvalReport": "ariadne_integrations.routing.evaluate",
    "read_jsonl": "ariadne_integrations.jsonl",
    # runtime and its extension points
    "AdapterRuntime": "ariadne_integrations.runtime.adapters",
    "GenerationBackend": "ariadne_integrations.runtime.generation",
    "GenerationConfig": "ariadne_integrations.runtime.generation",
    "GenerationResult": "ariadne_integrations.runtime.generation",
    "StreamChunk": "ariadne_integrations.runtime.generation",
    "OpenAICompatibleBackend": "ariadne_integrations.runtime.openai_backend",
    "load_backbone": "ariadne_integrations.runtime.backbone",
    "train_lora": "ariadne_integrations.runtime.training",
    # the framework-neutral core
    "RoutedGenerator": "ariadne_integrations.core.generator",
    "RoutedResult": "ariadne_integrations.core.generator",
    "RoutedStream": "ariadne_integrations.core.generator",
    "RoutedModelOptions": "ariadne_integrations.core.options",
    # demo
    "demo_index_path": "ariadne_integrations.demo",
}

_ERRORS = (
    "AriadneError InvalidInputError UnknownAdapterError DuplicateAdapterError DataFormatError "
    "IndexFormatError IndexNotFoundError EmbedderMismatchError AdapterLoadError BackboneLoadError ServerError "
    "ServerUnavailableError ServerTimeoutError"
).split()
for _name in _ERRORS:
    _LAZY[_name] = "ariadne_integrations.errors"

__all__ = sorted(_LAZY) + ["__version__"]

__getattr__, _dir = lazy_exports(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover
    from ariadne_integrations.core.generator import RoutedGenerator, RoutedResult, RoutedStream
    from ariadne_integrations.core.options import RoutedModelOptions
    from ariadne_integrations.demo import demo_index_path
    from ariadne_integrations.errors import (
        AdapterLoadError,
        AriadneError,
        BackboneLoadError,
        DataFormatError,
        DuplicateAdapterError,
        EmbedderMismatchError,
        IndexFormatError,
        IndexNotFoundError,
        InvalidInputError,
        ServerError,
        ServerTimeoutError,
        ServerUnavailableError,
        UnknownAdapterError,
    )
    from ariadne_integrations.jsonl import read_jsonl
    from ariadne_integrations.routing.centroid_index import CentroidIndex
    from ariadne_integrations.routing.decision import RouteDecision, decide
    from ariadne_integrations.routing.embedders import (
        Embedder,
        SentenceTransformerEmbedder,
        default_embedder,
        load_embedder,
    )
    from ariadne_integrations.routing.evaluate import EvalReport, evaluate_router
    from ariadne_integrations.routing.router import AriadneRouter
    from ariadne_integrations.runtime.adapters import AdapterRuntime
    from ariadne_integrations.runtime.backbone import load_backbone
    from ariadne_integrations.runtime.generation import (
        GenerationBackend,
        GenerationConfig,
        GenerationResult,
        StreamChunk,
    )
    from ariadne_integrations.runtime.openai_backend import OpenAICompatibleBackend
    from ariadne_integrations.runtime.training import train_lora
