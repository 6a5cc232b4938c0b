"""Test doubles, shipped as LangChain ships fake models and LlamaIndex ``MockLLM``.

For *wiring* tests of code built on this package (and for this package's own tests); anything that
measures quality must use the real embedder, backbone and adapters instead.

- :class:`FakeBackend`: a :class:`~ariadne_integrations.runtime.generation.GenerationBackend` that answers
  ``[adapter] prompt`` and records every call; no model.
- :func:`make_random_lora`: a real PEFT LoRA adapter with random (non-zero) weights on a backbone.
- :class:`DelegatingEmbedder`, :class:`CachingEmbedder`, :class:`CountingEmbedder`: the real default
  embedder's identity with bookkeeping (a memo, a record of what was embedded), so an index they build
  is a real one.
- :class:`HashingEmbedder`: no model at all; words hashed into a small vector. For tests of saving,
  loading and concurrency that need an embedder identity but no meaning (and start in milliseconds).

Importing this module loads no model: each double loads what it needs on first use.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ariadne_integrations.runtime.generation import GenerationConfig, GenerationResult, StreamChunk

__all__ = ["FakeBackend", "make_random_lora", "DelegatingEmbedder", "CachingEmbedder", "CountingEmbedder", "HashingEmbedder"]


class FakeBackend:
    """A GenerationBackend that answers ``[adapter] prompt`` and records every call (wiring tests only).

    ``fail_on``: a substring; a prompt containing it makes ``generate`` raise (failure isolation tests).
    """

    model_name = "fake-backbone"

    def __init__(self, adapters: Sequence[str], fail_on: str | None = None) -> None:
        self._adapters = set(adapters)
        self.calls: list[tuple[list[Any], list[str | None], GenerationConfig]] = []
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def has_adapter(self, name: str) -> bool:
        return name in self._adapters

    @staticmethod
    def _text(prompt: Any) -> str:
        return prompt if isinstance(prompt, str) else prompt[-1]["content"]

    def answer(self, prompt: Any, adapter: str | None, config: GenerationConfig) -> str:
        text = f"[{adapter or 'base'}] {self._text(prompt)}"
        for s in config.stop:
            if s in text:
                text = text[: text.index(s)]
        return text[: config.max_new_tokens * 4]

    def generate(self, prompts: Sequence[Any], adapters: Sequence[str | None], config: GenerationConfig) -> list[GenerationResult]:
        with self.lock:
            self.calls.append((list(prompts), list(adapters), config))
        out = []
        for p, a in zip(prompts, adapters):
            if self.fail_on and self.fail_on in self._text(p):
                raise RuntimeError(f"backend failure on {self._text(p)!r}")
            text = self.answer(p, a, config)
            out.append(GenerationResult(text=text, adapter=a, prompt_tokens=len(self._text(p).split()),
                                        completion_tokens=len(text.split()), finish_reason="stop"))
        return out

    def stream(self, prompt: Any, adapter: str | None, config: GenerationConfig) -> Iterator[StreamChunk]:
        text = self.answer(prompt, adapter, config)
        words = text.split(" ")
        for i, w in enumerate(words):
            yield StreamChunk(text=w if i == 0 else " " + w, adapter=adapter)
        yield StreamChunk(text="", final=True, adapter=adapter, prompt_tokens=len(self._text(prompt).split()),
                          completion_tokens=len(words), finish_reason="stop")


def make_random_lora(folder: str | Path, seed: int, targets: Sequence[str] = ("q_proj", "v_proj"), r: int = 4,
                     backbone: str | None = None) -> Path:
    """A real PEFT LoRA adapter with random (non-zero) A and B, so it visibly changes the outputs.

    ``backbone``: hub id or folder of the base model (None = the embedded default).
    """
    import torch
    from peft import LoraConfig, get_peft_model

    from ariadne_integrations.hf_progress import quiet_peft_wrap
    from ariadne_integrations.runtime.backbone import load_backbone

    torch.manual_seed(seed)
    bb = load_backbone(backbone, fresh=True)
    cfg = LoraConfig(task_type="CAUSAL_LM", r=r, lora_alpha=2 * r, target_modules=list(targets), init_lora_weights=False)
    with quiet_peft_wrap():
        model = get_peft_model(bb.model, cfg)
    model.save_pretrained(str(folder))
    return Path(folder)


class DelegatingEmbedder:
    """The real default embedder's identity (name, dimension, fingerprint); subclasses override ``embed``."""

    def __init__(self) -> None:
        from ariadne_integrations.routing.embedders import default_embedder

        self.inner = default_embedder()
        self.name = self.inner.name
        self.spec = self.inner.spec
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    def embed(self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        return self.inner.embed(texts, batch_size=batch_size, show_progress=show_progress)


class CachingEmbedder(DelegatingEmbedder):
    """With a per-text memo, so tests that re-embed the same texts stay fast."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self._memo: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        from ariadne_integrations.routing.embedders import validate_texts

        items = validate_texts(texts)
        with self._lock:
            self.calls += 1
            missing = list(dict.fromkeys(t for t in items if t not in self._memo))
        if missing:
            vecs = self.inner.embed(missing, batch_size=batch_size)
            with self._lock:
                self._memo.update(zip(missing, vecs))
        return np.stack([self._memo[t] for t in items])


class CountingEmbedder(DelegatingEmbedder):
    """Recording every text it embeds (to prove examples are embedded once)."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        with self._lock:
            self.texts.extend(texts)
        return self.inner.embed(texts, batch_size=batch_size)


class HashingEmbedder:
    """A deterministic embedder without a model: each word (lower-cased) hashed with blake2b into one of
    ``dimension`` buckets with a sign, rows L2-normalised. Same text, same vector, in every process.

    For wiring, persistence and concurrency tests only: it knows nothing of meaning. Its identity
    (``name``, ``dimension``, ``fingerprint``) is stable, so an index it builds saves and loads like a real
    one; pass it to :meth:`~ariadne_integrations.routing.router.AriadneRouter.load` (``embedder=``).
    """

    def __init__(self, dimension: int = 32, name: str = "hashing-test-embedder") -> None:
        if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 2:
            raise ValueError(f"dimension must be an integer >= 2, got {dimension!r}")
        self.name = name
        self.spec = name
        self._dimension = dimension
        import hashlib

        self._fingerprint = hashlib.sha256(f"{name}/{dimension}/v1".encode()).hexdigest()[:32]

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def embed(self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        import hashlib

        from ariadne_integrations.routing.embedders import normalize_rows, validate_texts

        items = validate_texts(texts)
        out = np.zeros((len(items), self._dimension), dtype=np.float32)
        for i, text in enumerate(items):
            for word in text.lower().split():
                h = int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")
                out[i, h % self._dimension] += 1.0 if (h >> 63) & 1 else -1.0
            if not out[i].any():  # words that cancel out: keep the row a unit vector
                out[i, 0] = 1.0
        return normalize_rows(out)
