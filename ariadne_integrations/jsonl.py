"""Reading JSONL data files (one example per line) with errors that name the file and line.

Shared by the routing engine (labelled inputs) and the runtime (training pairs), so neither imports
the other to read a file.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import overload

from ariadne_integrations.errors import DataFormatError, printable

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

    Blank lines are skipped; a UTF-8 byte order mark at the start is allowed. Anything else that is wrong
    raises DataFormatError with ``file:line``: bytes that are not UTF-8, a line that is not a JSON object
    (or nests too deeply, or holds a number too large to read), a missing field, a field that is not a
    string, is empty, or holds a lone surrogate (a ``"\\ud800"`` escape: not valid Unicode text).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise DataFormatError(f"a data file must be a path, got {type(path).__name__}")
    p = Path(path)
    shown = printable(p)
    try:
        if not p.is_file():
            raise DataFormatError(f"{shown}: no such data file")
        fh = open(p, "rb")
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        if isinstance(exc, DataFormatError):
            raise
        raise DataFormatError(f"{shown}: cannot read the data file ({printable(exc)})") from None
    rows: list = []
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
                raw = raw[3:]
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                raise DataFormatError(
                    f"{shown}:{lineno}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                    "save the file as UTF-8"
                ) from None
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFormatError(f"{shown}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from None
            except RecursionError:
                raise DataFormatError(f"{shown}:{lineno}: the JSON nests too deeply to read") from None
            except ValueError as exc:  # an integer with more digits than Python converts
                raise DataFormatError(f"{shown}:{lineno}: not readable JSON ({printable(exc, 120)})") from None
            if not isinstance(rec, dict):
                raise DataFormatError(f"{shown}:{lineno}: expected a JSON object, got {type(rec).__name__}")
            text = _field(rec, text_field, shown, lineno)
            if label_field is None:
                rows.append(text)
            else:
                rows.append((text, _field(rec, label_field, shown, lineno)))
    if not rows:
        raise DataFormatError(f"{shown}: the file has no examples (it is empty or only blank lines)")
    return rows


def _field(rec: dict, name: str, shown: str, lineno: int) -> str:
    if name not in rec:
        keys = ", ".join(sorted(printable(k, 40) for k in rec)[:20]) or "none"
        raise DataFormatError(f"{shown}:{lineno}: missing field {name!r} (fields present: {keys}); pass the right field name")
    val = rec[name]
    if not isinstance(val, str):
        raise DataFormatError(f"{shown}:{lineno}: field {name!r} is a {type(val).__name__}, expected a string")
    if not val.strip():
        raise DataFormatError(f"{shown}:{lineno}: field {name!r} is empty")
    try:
        val.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DataFormatError(
            f"{shown}:{lineno}: field {name!r} holds a lone surrogate U+{ord(val[exc.start]):04X} at character {exc.start} "
            "(a broken \\u escape): not valid Unicode text"
        ) from None
    return val
