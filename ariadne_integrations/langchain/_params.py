"""The constructor parameters AriadneLLM and ChatAriadne share, and their lazily built generator.

One pydantic base so both classes accept the same keywords (where to route, what to run, how to
decode), validate them the same way, and build the router + backend once, on first use.
"""
from __future__ import annotations

import os
import threading
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, field_validator

from ariadne_integrations.langchain._common import build_generator
from ariadne_integrations.routed import RoutedGenerator


class RoutedModelParams(BaseModel):
    """Shared fields; the model classes add ``adapter`` (their aliases differ) and ``route_on``."""

    model_config = ConfigDict(arbitrary_types_allowed=True, populate_by_name=True)

    index: str | None = None
    """Routing index folder (``ariadne index build`` / ``AriadneRouter.save``); its adapter folders are used."""
    router: Any = Field(default=None, exclude=True)
    """An ``AriadneRouter`` object instead of ``index``."""
    backend: Any = Field(default=None, exclude=True)
    """A ``GenerationBackend``; default: an ``AdapterRuntime`` over ``backbone`` with the index's adapters."""
    backbone: str | None = None
    """Hub id or local path of the base causal LM; None = the embedded SmolLM2-135M-Instruct."""
    base_url: str | None = None
    """OpenAI-compatible multi-LoRA server (vLLM, LoRAX, llama.cpp server) instead of the local runtime."""
    api_key: SecretStr | None = None
    max_new_tokens: int = Field(default=64, validation_alias=AliasChoices("max_new_tokens", "max_tokens"))
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int | None = None
    repetition_penalty: float | None = None
    seed: int | None = None
    stop: list[str] | None = None
    max_loaded_adapters: int = 8
    timeout: float | None = None
    max_retries: int = 0

    _gen: RoutedGenerator | None = PrivateAttr(default=None)
    _gen_lock: Any = PrivateAttr(default_factory=threading.Lock)

    @field_validator("index", mode="before")
    @classmethod
    def _index_to_str(cls, v: Any) -> Any:
        return os.fspath(v) if isinstance(v, os.PathLike) else v

    @property
    def generator(self) -> RoutedGenerator:
        """The shared router + backend (created on first use)."""
        if self._gen is None:
            with self._gen_lock:
                if self._gen is None:
                    self._gen = build_generator(self)
        return self._gen
