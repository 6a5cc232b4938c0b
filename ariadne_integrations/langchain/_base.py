"""What AriadneLLM and ChatAriadne share on the LangChain side: one pydantic base over the neutral
options, the translation of LangChain's call arguments, and tracing parameters.

Everything about routing, settings and metadata is in :mod:`ariadne_integrations.core`; this base only
knows which keyword arguments LangChain itself adds to a call.
"""
from __future__ import annotations

from typing import Any, Mapping

from ariadne_integrations.core.generator import RoutedResult
from ariadne_integrations.core.options import GenerationConfig, RoutedModelOptions

_LANGCHAIN_EXTRAS = ("stream", "run_name", "callbacks", "tags", "metadata")
"""Keyword arguments LangChain passes along with a call that are not generation settings."""


class AriadneLangChainBase(RoutedModelOptions):
    """Fields and per-call handling shared by :class:`AriadneLLM` and :class:`ChatAriadne`."""

    def _call_settings(self, stop: list[str] | None, kwargs: Mapping[str, Any]) -> tuple[str | None, GenerationConfig]:
        """``(adapter, config)`` of one LangChain call (LangChain's own extras and ``ls_*`` hints dropped)."""
        ignore = [k for k in kwargs if k in _LANGCHAIN_EXTRAS or k.startswith("ls_")]
        return self.call_settings(stop, kwargs, ignore=ignore)

    def _ls_common(self, params: Any, stop: list[str] | None, kwargs: Mapping[str, Any]) -> Any:
        """LangSmith parameters: provider, the model (a per-call ``model=`` names the adapter), limits."""
        params["ls_provider"] = "ariadne"
        model = kwargs.get("model")
        params["ls_model_name"] = model if isinstance(model, str) else self.backbone_name
        params["ls_temperature"] = kwargs.get("temperature", self.temperature)
        params["ls_max_tokens"] = kwargs.get("max_new_tokens", kwargs.get("max_tokens", self.max_new_tokens))
        stops = stop if stop is not None else self.stop
        if stops:
            params["ls_stop"] = list(stops)
        return params

    def get_token_ids(self, text: str) -> list[int]:
        """Token ids from the backbone's own tokenizer (LangChain's GPT-2 fallback would count wrong,
        and needs a download); a remote server without a local tokenizer falls back to LangChain's."""
        tok = self.generator.tokenizer
        if tok is None:
            return super().get_token_ids(text)  # type: ignore[misc]
        return list(tok(text, add_special_tokens=False)["input_ids"])

    def _identifying(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "backbone": self.backbone_name,
            "base_url": self.base_url,
            "adapter": self.adapter,
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
        }


def served_model_name(base: str, adapter: str | None) -> str:
    """``backbone:adapter`` (what answered), or the backbone name for the bare model."""
    return base if adapter is None else f"{base}:{adapter}"


def token_usage(results: list[RoutedResult]) -> dict[str, int]:
    p = sum(r.result.prompt_tokens for r in results)
    c = sum(r.result.completion_tokens for r in results)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
