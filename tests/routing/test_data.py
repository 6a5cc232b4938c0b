"""JSONL reading: line-numbered errors for every kind of broken line."""
from __future__ import annotations

from pathlib import Path

import pytest

from ariadne_integrations.errors import DataFormatError
from ariadne_integrations.routing.data import group_by_label, read_examples, read_jsonl


def _write(tmp_path: Path, text: str, name: str = "d.jsonl") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_reads_pairs_skips_blank_lines_and_groups(tmp_path: Path) -> None:
    p = _write(tmp_path, '{"input": "a", "task": "x"}\n\n{"input": "b", "task": "y"}\n{"input": "c", "task": "x"}\n')
    assert read_jsonl(p) == [("a", "x"), ("b", "y"), ("c", "x")]
    assert read_jsonl(p, label_field=None) == ["a", "b", "c"]
    assert dict(group_by_label(read_jsonl(p))) == {"x": ["a", "c"], "y": ["b"]}


def test_custom_fields_and_several_files(tmp_path: Path) -> None:
    a = _write(tmp_path, '{"q": "one", "label": "x"}\n', "a.jsonl")
    b = _write(tmp_path, '{"q": "two", "label": "x"}\n{"q": "three", "label": "z"}\n', "b.jsonl")
    assert dict(read_examples([a, b], text_field="q", label_field="label")) == {"x": ["one", "two"], "z": ["three"]}


@pytest.mark.parametrize(
    "content,line,needle",
    [
        ('{"input": "a", "task": "x"}\n{"input": "b", "task": \n', 2, "not valid JSON"),
        ('{"input": "a", "task": "x"}\n\n{"task": "x"}\n', 3, "missing field 'input'"),
        ('{"input": "a"}\n', 1, "missing field 'task'"),
        ('{"input": 5, "task": "x"}\n', 1, "is a int"),
        ('{"input": "  ", "task": "x"}\n', 1, "is empty"),
        ('["input", "task"]\n', 1, "expected a JSON object"),
    ],
)
def test_broken_lines_name_file_and_line(tmp_path: Path, content: str, line: int, needle: str) -> None:
    p = _write(tmp_path, content)
    with pytest.raises(DataFormatError) as err:
        read_jsonl(p)
    assert f"{p}:{line}:" in str(err.value)
    assert needle in str(err.value)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no examples"):
        read_jsonl(_write(tmp_path, "\n\n"))
    with pytest.raises(DataFormatError, match="no such data file"):
        read_jsonl(tmp_path / "absent.jsonl")
