"""The packaged demo pool: four small tasks, a LoRA adapter per task, and their routing index.

Why it exists: the main demo, the tutorials and the integration tests must run on a fresh machine
with no data of the user's. The files live inside the package (so they ship in the wheel):

- ``data/<task>/{train,test}.jsonl`` and ``data/all_{train,test}.jsonl``: ``{"input", "target", "task",
  "template", "prefix"}`` rows written by ``scripts/build_demo_pool.py`` from seeded generators (no
  external data set); the test split comes from other templates than the training split;
- ``data/oos_{calibration,test}.jsonl``: ``{"input", "task": "oos", "template"}`` general questions that no
  demo adapter should take (for calibrating an abstention threshold), with disjoint templates;
- ``adapters/<task>/``: the PEFT LoRA adapter trained with ``train_lora`` on SmolLM2-135M-Instruct;
- ``index/``: the routing index over the adapters' training inputs (adapter paths relative to it);
- ``scores.json``: on the held-out split, the base model (exact, lenient, format-instructed) and each
  adapter, the index's routing accuracy, and the demo examples' answers;
- ``examples.json``: the literal prompts of README, notebooks, main demo and tests with their expected
  answers (:func:`demo_examples`).

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
    "demo_examples",
    "demo_oos_path",
]

DEMO_TASKS: tuple[str, ...] = ("sentiment", "support_intent", "date_iso", "sql")
"""The demo tasks, which are also the adapter names in the demo index."""

DEMO_SPLITS: tuple[str, ...] = ("train", "test")
OOS_SPLITS: tuple[str, ...] = ("calibration", "test")

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


def demo_examples() -> list[dict[str, str]]:
    """The demo prompts used in README, notebooks, main demo and tests, each as
    ``{"prompt", "task", "expected", "source"}`` (``task`` is the adapter it must be routed to)."""
    data = json.loads(_require(_ROOT / "examples.json", "examples file").read_text(encoding="utf-8"))
    return list(data["examples"])


def demo_oos_path(split: str = "calibration") -> Path:
    """Out-of-scope questions (``{"input", "task": "oos", "template"}`` rows) that no demo adapter should take:
    ``"calibration"`` to choose an abstention threshold, ``"test"`` (other templates) to measure it."""
    if split not in OOS_SPLITS:
        raise InvalidInputError(f"split must be one of {OOS_SPLITS}, got {split!r}")
    return _require(_ROOT / "data" / f"oos_{split}.jsonl", f"out-of-scope {split} data")
