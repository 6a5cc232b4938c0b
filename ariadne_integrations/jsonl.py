"""Reading JSONL data files (one example per line) with errors that name the file and line.

Shared by the routing engine (labelled inputs) and the runtime (training pairs), so neither imports
the other to read a file.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import overload

from ariadne_integrations.errors import DataFormatError

__all__ = ["read_jsonl"]


@overload
def read_jsonl(path: str | os.PathLike[str], text_field: str = ..., label_field: str = ...) -> list[tuple[str, str]]: ...
@overload
def read_jsonl(path: str | os.PathLike[str], text_field: str, label_field: None) -> list[str]: ...
@overload
def read_jsonl(path: str | os.PathLike[str], text_field: str = ..., *, label_field: None) -> list[str]: ...


def read_jsonl(
    path: str | os.PathLike[str],
    text_field: str = "input",
    label_field: str | None = "task",
) -> list[tuple[str, str]] | list[str]:
    """Read ``path`` into ``[(text, label), ...]`` (or ``[text, ...]`` when ``label_field`` is None).

    Blank lines are skipped. A line that is not a JSON object, lacks a field, or holds a non-string or
    empty text raises DataFormatError with ``file:line`` so the user can fix that line.
    """
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"{p}: no such data file")
    rows: list = []
    with open(p, encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFormatError(f"{p}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(rec, dict):
                raise DataFormatError(f"{p}:{lineno}: expected a JSON object, got {type(rec).__name__}")
            text = _field(rec, text_field, p, lineno)
            if label_field is None:
                rows.append(text)
            else:
                rows.append((text, _field(rec, label_field, p, lineno)))
    if not rows:
        raise DataFormatError(f"{p}: the file has no examples (it is empty or only blank lines)")
    return rows


def _field(rec: dict, name: str, path: Path, lineno: int) -> str:
    if name not in rec:
        keys = ", ".join(sorted(map(str, rec))) or "none"
        raise DataFormatError(f"{path}:{lineno}: missing field {name!r} (fields present: {keys}); pass the right field name")
    val = rec[name]
    if not isinstance(val, str):
        raise DataFormatError(f"{path}:{lineno}: field {name!r} is a {type(val).__name__}, expected a string")
    if not val.strip():
        raise DataFormatError(f"{path}:{lineno}: field {name!r} is empty")
    return val


