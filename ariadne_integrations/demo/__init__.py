"""The packaged demo pool: four small tasks, a LoRA adapter per task, and their routing index.

Why it exists: the main demo, the tutorials and the integration tests must run on a fresh machine
with no data of the user's. The files live inside the package (so they ship in the wheel):

- ``data/<task>/{train,test}.jsonl`` and ``data/all_{train,test}.jsonl``: ``{"input", "target", "task"}``
  rows written by ``scripts/build_demo_pool.py`` from seeded generators (no external data set);
- ``adapters/<task>/``: the PEFT LoRA adapter trained with ``ariadne train`` on SmolLM2-135M-Instruct;
- ``index/``: the routing index over the adapters' training inputs (adapter paths relative to it);
- ``scores.json``: exact match of the base model and of each adapter on the held-out test split.

This module only computes paths: it imports nothing heavy.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ariadne_integrations.errors import InvalidInputError, UnknownAdapterError

__all__ = [
    "DEMO_TASKS",
    "DEMO_SPLITS",
    "demo_root",
    "demo_index_path",
    "demo_adapter_paths",
    "demo_data_path",
    "demo_scores",
]

DEMO_TASKS: tuple[str, ...] = ("sentiment", "support_intent", "date_iso", "sql")
"""The demo tasks, which are also the adapter names in the demo index."""

DEMO_SPLITS: tuple[str, ...] = ("train", "test")

_ROOT = Path(__file__).resolve().parent
_REBUILD = "rebuild it with `python scripts/build_demo_pool.py` from a source checkout, or reinstall the package"


def demo_root() -> Path:
    """The folder that holds the demo pool's files (inside the installed package)."""
    return _ROOT


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"the packaged demo {what} is missing at {path}; {_REBUILD}")
    return path


def demo_index_path() -> Path:
    """The packaged routing index folder, e.g. for ``AriadneRouter.load`` or ``AriadneLLM.from_index``."""
    return _require(_ROOT / "index", "routing index")


def demo_adapter_paths() -> dict[str, Path]:
    """Adapter name -> PEFT adapter folder, for every demo task (same order as :data:`DEMO_TASKS`)."""
    paths = {}
    for task in DEMO_TASKS:
        folder = _ROOT / "adapters" / task
        _require(folder / "adapter_config.json", f"adapter {task!r}")
        paths[task] = folder
    return paths


def demo_data_path(task: str | None = None, split: str = "train") -> Path:
    """The JSONL file of one task's split, or of all tasks together when ``task`` is None.

    Rows are ``{"input": ..., "target": ..., "task": ...}``.
    """
    if split not in DEMO_SPLITS:
        raise InvalidInputError(f"split must be one of {DEMO_SPLITS}, got {split!r}")
    if task is None:
        return _require(_ROOT / "data" / f"all_{split}.jsonl", f"{split} data")
    if task not in DEMO_TASKS:
        raise UnknownAdapterError(f"unknown demo task {task!r}; the demo tasks are {list(DEMO_TASKS)}")
    return _require(_ROOT / "data" / task / f"{split}.jsonl", f"{split} data of {task!r}")


def demo_scores() -> dict[str, Any]:
    """The measured exact-match scores (base model vs adapter per task) from ``scores.json``."""
    return json.loads(_require(_ROOT / "scores.json", "scores file").read_text(encoding="utf-8"))
