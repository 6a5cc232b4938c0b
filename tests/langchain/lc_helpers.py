"""Helpers shared by the LangChain tests (imported by conftest and the test modules)."""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Iterator, Sequence

from ariadne_integrations.runtime.generation import GenerationConfig, GenerationResult, StreamChunk

TASKS = ("sentiment", "support_intent", "date_iso", "sql")
DEMO_DATA = Path(__file__).resolve().parents[2] / "ariadne_integrations" / "demo" / "data"


def demo_rows(split: str) -> list[dict[str, str]]:
    rows = []
    for line in (DEMO_DATA / f"all_{split}.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


class FakeBackend:
    """A GenerationBackend that answers ``[adapter] prompt`` and records every call (wiring tests only)."""

    model_name = "fake-backbone"

    def __init__(self, adapters: Sequence[str] = TASKS, fail_on: str | None = None) -> None:
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


def build_random_lora_index(folder: Path) -> Path:
    """Tiny index over the demo data whose adapters are random-init LoRA adapters (stand-in until the
    trained demo pool exists): real PEFT weights, real mixed-adapter generation, untrained outputs."""
    import torch
    from peft import LoraConfig, get_peft_model

    from ariadne_integrations.routing.router import AriadneRouter
    from ariadne_integrations.runtime.backbone import load_backbone

    model, _tok = load_backbone(None)
    paths = {}
    for i, task in enumerate(TASKS):
        torch.manual_seed(i)
        cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
        peft_model = get_peft_model(model, cfg)
        out = folder / "adapters" / task
        peft_model.save_pretrained(out)
        model = peft_model.unload()
        paths[task] = out
    examples: dict[str, list[str]] = {t: [] for t in TASKS}
    for r in demo_rows("train"):
        examples[r["task"]].append(r["input"])
    router = AriadneRouter.from_examples(examples, adapter_paths=paths)
    router.save(folder / "index")
    return folder / "index"
