"""JSONL reading: line-numbered errors for every kind of broken line."""
from __future__ import annotations

from pathlib import Path

import pytest

from ariadne_integrations.errors import DataFormatError, InvalidInputError
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


def test_heldout_mask_is_bench_routings_split():
    """The shared helper draws exactly what bench_routing drew inline before (notebook 04 relies on it)."""
    import numpy as np

    from ariadne_integrations.routing.data import heldout_mask, split_heldout

    rng = np.random.default_rng(5)
    labels = np.array([f"d{int(i)}" for i in rng.integers(0, 4, size=97)])
    names = list(dict.fromkeys(labels.tolist()))
    old = np.zeros(len(labels), dtype=bool)
    ref = np.random.default_rng(0)
    for n in names:
        idx = np.nonzero(labels == n)[0]
        old[ref.choice(idx, size=max(1, len(idx) // 10), replace=False)] = True
    mask = heldout_mask(labels.tolist(), share=0.1, seed=0)
    assert np.array_equal(mask, old)
    assert not np.array_equal(mask, heldout_mask(labels.tolist(), share=0.1, seed=1))
    rows = [(f"t{i}", lab) for i, lab in enumerate(labels.tolist())]
    kept, held = split_heldout(rows, 0.1, 0)
    assert len(held) == int(mask.sum()) and len(kept) + len(held) == len(rows)
    assert held == [r for r, m in zip(rows, mask) if m] and set(kept).isdisjoint(held)
    assert {lab for _, lab in held} == set(names)  # every label gives at least one row
    with pytest.raises(InvalidInputError):
        heldout_mask(["a"], share=1.5)
