"""ariadne-integrations: pick the right LoRA adapter for every query, training-free.

Names are imported lazily so that ``import ariadne_integrations`` stays fast and does not pull
torch, transformers, LangChain or LlamaIndex until they are used.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
    "read_jsonl": "ariadne_integrations.routing.data",
    # runtime
    "AdapterRuntime": "ariadne_integrations.runtime.adapters",
    "GenerationConfig": "ariadne_integrations.runtime.generation",
    "GenerationResult": "ariadne_integrations.runtime.generation",
    "load_backbone": "ariadne_integrations.runtime.backbone",
    "train_lora": "ariadne_integrations.runtime.training",
    "RoutedGenerator": "ariadne_integrations.routed",
    # demo
    "demo_index_path": "ariadne_integrations.demo",
}

_ERRORS = (
    "AriadneError InvalidInputError UnknownAdapterError DuplicateAdapterError DataFormatError "
    "IndexFormatError IndexNotFoundError EmbedderMismatchError AdapterLoadError BackboneLoadError"
).split()
for _name in _ERRORS:
    _LAZY[_name] = "ariadne_integrations.errors"

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ariadne_integrations' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover
    from ariadne_integrations.errors import *  # noqa: F401,F403
    from ariadne_integrations.routing.router import AriadneRouter, RouteDecision  # noqa: F401
