"""Reading labelled datasets (JSONL, one example per line) with errors that name the file and line.

A row's label field (``task`` by default, the benchmark data's convention) names the adapter it belongs to.
"""
from __future__ import annotations

import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ariadne_integrations.constants import ADAPTER_INPUTS_FILE, ADAPTER_TASK_FILE
from ariadne_integrations.errors import DataFormatError, InvalidInputError, printable
from ariadne_integrations.jsonl import read_jsonl

__all__ = ["group_by_label", "heldout_mask", "read_adapter_dir", "read_examples", "read_jsonl", "split_heldout"]


def group_by_label(rows: Iterable[tuple[str, str]]) -> OrderedDict[str, list[str]]:
    """``[(text, label)]`` -> ``{label: [texts]}`` in first-seen label order (file order is kept)."""
    groups: OrderedDict[str, list[str]] = OrderedDict()
    for text, label in rows:
        groups.setdefault(label, []).append(text)
    return groups


def heldout_mask(labels: Sequence[str], share: float = 0.1, seed: int = 0) -> np.ndarray:
    """A seeded held-out ``share`` of every label's rows, as a boolean mask over ``labels``.

    Label by label, in first-seen order, ``max(1, floor(n * share))`` of its ``n`` rows are drawn without
    replacement from one ``numpy.random.default_rng(seed)``. This is the calibration split of
    ``benchmarks/bench_routing.py`` (CLINC150: centroids on the rest of train, the threshold on this
    slice + train_oos), so notebook 04 reproduces the benchmark's figures exactly.
    """
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1:
        raise InvalidInputError(f"share must be a number in (0, 1), got {share!r}")
    labs = np.asarray(list(labels), dtype=object)
    rng = np.random.default_rng(seed)
    held = np.zeros(len(labs), dtype=bool)
    for name in dict.fromkeys(labs.tolist()):
        idx = np.nonzero(labs == name)[0]
        held[rng.choice(idx, size=max(1, int(np.floor(len(idx) * share + 1e-9))), replace=False)] = True
    return held


def split_heldout(
    rows: Sequence[tuple[str, str]], share: float = 0.1, seed: int = 0
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``[(text, label)]`` -> ``(kept, held_out)`` by :func:`heldout_mask` (file order kept in both)."""
    rows = list(rows)
    held = heldout_mask([label for _, label in rows], share, seed)
    return [r for r, h in zip(rows, held) if not h], [r for r, h in zip(rows, held) if h]


def read_examples(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    text_field: str = "input",
    label_field: str = "task",
) -> OrderedDict[str, list[str]]:
    """Read one or several JSONL files into ``{label: [texts]}`` (files concatenated in order)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    if not paths:
        raise InvalidInputError("no data files given")
    rows: list[tuple[str, str]] = []
    for p in paths:
        rows.extend(read_jsonl(p, text_field=text_field, label_field=label_field))
    return group_by_label(rows)


def read_adapter_dir(
    folder: str | os.PathLike[str], name: str | None = None
) -> tuple[str, Path, list[str]]:
    """An adapter folder written by ``ariadne train`` -> (adapter name, folder, training inputs).

    The name comes from ``name``, else ``ariadne_task.json``'s ``task``, else the folder's name; the
    inputs from ``ariadne_inputs.jsonl`` (one ``{"input": ...}`` per line).
    """
    if not isinstance(folder, (str, os.PathLike)):
        raise DataFormatError(f"an adapter folder must be a path, got {type(folder).__name__}")
    path = Path(folder)
    try:
        is_dir = path.is_dir()
    except (OSError, ValueError):  # a NUL or an unencodable character in the path
        is_dir = False
    if not is_dir:
        raise DataFormatError(f"adapter folder {printable(path)} does not exist")
    task_file = path / ADAPTER_TASK_FILE
    if name is None and task_file.is_file():
        try:
            meta = json.loads(task_file.read_bytes().decode("utf-8"))
        except (ValueError, RecursionError) as exc:  # JSON, UTF-8, nesting, huge numbers
            raise DataFormatError(f"{printable(task_file)}: not valid JSON ({printable(exc, 200)})") from None
        except OSError as exc:
            raise DataFormatError(f"{printable(task_file)}: cannot be read ({printable(exc)})") from None
        task = meta.get("task") if isinstance(meta, dict) else None
        if isinstance(task, str) and task.strip():
            name = task
    if name is None:
        name = path.resolve().name
    inputs = path / ADAPTER_INPUTS_FILE
    if not inputs.is_file():
        raise DataFormatError(
            f"adapter folder {printable(path)} has no {ADAPTER_INPUTS_FILE} (one {{\"input\": ...}} per line); "
            "`ariadne train` writes it, or give the adapter's examples directly"
        )
    texts = read_jsonl(inputs, text_field="input", label_field=None)
    return name, path, list(texts)
