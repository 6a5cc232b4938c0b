"""Issue "Reliability" 3: a loaded index is what was saved, or an IndexFormatError.

The edits below are made the way a bug, a bad merge or a hand edit would make them. Where a test is about
the schema or the centroid checks, the checksums are recomputed after the edit ("resealed"), so that the
check under test, not the checksum, is what must catch it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from typer.testing import CliRunner

from ariadne_integrations.cli import app, index_commands  # noqa: F401  (registers the commands)
from ariadne_integrations.errors import IndexFormatError, InvalidInputError
from ariadne_integrations.routing import persistence
from ariadne_integrations.routing.centroid_index import CentroidIndex
from ariadne_integrations.routing.router import AriadneRouter
from ariadne_integrations.testing import HashingEmbedder
from tests.reliability import versions

runner = CliRunner()


@pytest.fixture()
def saved(tmp_path: Path) -> Path:
    router = versions.build(0)
    router.set_adapter_path("a03", tmp_path / "adapters" / "a03")
    folder = tmp_path / "idx"
    router.save(folder)
    return folder


def _meta(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "index.json").read_text(encoding="utf-8"))


def _centroid_file(folder: Path) -> Path:
    meta = _meta(folder)
    return folder / "snapshots" / meta["snapshot"] / "centroids.safetensors" if "snapshot" in meta else folder / "centroids.safetensors"


def _write_meta(folder: Path, meta: dict[str, Any], reseal: bool = True) -> None:
    if reseal and "content_sha256" in meta:
        meta["content_sha256"] = persistence.content_digest(meta)
    (folder / "index.json").write_text(json.dumps(meta), encoding="utf-8")


def _edit(folder: Path, fn: Callable[[dict[str, Any]], None], reseal: bool = True) -> None:
    meta = _meta(folder)
    fn(meta)
    _write_meta(folder, meta, reseal)


def _assert_format_error(folder: Path, needle: str = "") -> None:
    """Every way of reading the folder raises IndexFormatError (and nothing else)."""
    for read in (lambda: AriadneRouter.load(folder, embedder=versions.embedder()), lambda: persistence.load_index(folder)):
        with pytest.raises(IndexFormatError) as info:
            read()
        assert needle in str(info.value)
    res = runner.invoke(app, ["index", "info", str(folder)])
    assert res.exit_code == 2 and res.stderr.startswith("error: ") and isinstance(res.exception, SystemExit)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def fn(meta: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = meta
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        node[int(last) if isinstance(node, list) else last] = value

    return fn


# ------------------------------------------------------------------------------------------ schema
WRONG_TYPES = {
    "thresholds a string": _set("thresholds", "abc"),
    "threshold a string": _set("thresholds.threshold", "0.5"),
    "threshold a bool": _set("thresholds.threshold", True),
    "n_examples a string": _set("adapters.0.n_examples", "many"),
    "n_examples negative": _set("adapters.0.n_examples", -3),
    "n_examples a float": _set("adapters.0.n_examples", 2.5),
    "n_centroids zero": _set("adapters.0.n_centroids", 0),
    "seed a string": _set("strategy.seed", "x"),
    "seed negative": _set("strategy.seed", -1),
    "seed a float": _set("strategy.seed", 1.5),
    "centroids a string": _set("strategy.centroids", "four"),
    "adapter_path an int": _set("adapters.3.adapter_path", 5),
    "adapter_path with NUL": _set("adapters.3.adapter_path", "adapters/a\x00b"),
    "adapter_path with a surrogate": _set("adapters.3.adapter_path", "adapters/\ud800"),
    "name an int": _set("adapters.0.name", 7),
    "name with a newline": _set("adapters.0.name", "a00\nforged\tline"),
    "name with a surrogate": _set("adapters.0.name", "a\udc80"),
    "name empty": _set("adapters.0.name", ""),
    "names repeated": _set("adapters.1.name", "a00"),
    "embedder a list": _set("embedder", ["x"]),
    "dimension a string": _set("embedder.dimension", "32"),
    "dimension zero": _set("embedder.dimension", 0),
    "fingerprint an int": _set("embedder.fingerprint", 5),
    "embedder spec with NUL": _set("embedder.spec", "model\x00"),
    "strategy missing": lambda m: m.pop("strategy"),
    "adapters a string": _set("adapters", "a00,a01"),
    "adapters empty": _set("adapters", []),
    "adapter an int": _set("adapters.0", 3),
    "version a bool": _set("version", True),
    "extra a list": _set("extra", [1, 2]),
    "checksum not hex": _set("centroids_sha256", "zz"),
}


@pytest.mark.parametrize("edit", list(WRONG_TYPES.values()), ids=list(WRONG_TYPES))
def test_a_field_of_the_wrong_type_is_a_format_error(saved: Path, edit) -> None:
    _edit(saved, edit)
    _assert_format_error(saved)


RAW_EDITS = {
    "100k-deep nesting": lambda text: text.rstrip()[:-1] + ', "extra": {"deep": ' + "[" * 100_000 + "]" * 100_000 + "}}",
    "100k-deep thresholds": lambda text: text.replace('"threshold": 0.1', '"threshold": ' + "[" * 100_000 + "]" * 100_000),
    "NaN threshold": lambda text: text.replace('"threshold": 0.1', '"threshold": NaN'),
    "Infinity threshold": lambda text: text.replace('"threshold": 0.1', '"threshold": Infinity'),
    "5000-digit n_examples": lambda text: text.replace('"n_examples": 8', '"n_examples": ' + "9" * 5000, 1),
    "not UTF-8": lambda text: text.replace('"a00"', '"a\udcff00"'),
    "truncated": lambda text: text[: len(text) // 2],
}


@pytest.mark.parametrize("edit", list(RAW_EDITS.values()), ids=list(RAW_EDITS))
def test_unreadable_json_is_a_format_error(saved: Path, edit) -> None:
    text = (saved / "index.json").read_text(encoding="utf-8")
    changed = edit(text)
    assert changed != text
    (saved / "index.json").write_bytes(changed.encode("utf-8", "surrogateescape"))
    _assert_format_error(saved)


# ------------------------------------------------------------------------------------------ the checksum covers everything
def _swap_names(meta: dict[str, Any]) -> None:
    a, b = meta["adapters"][0], meta["adapters"][1]
    a["name"], b["name"] = b["name"], a["name"]


def _flip_bit_in_name(meta: dict[str, Any]) -> None:
    name = meta["adapters"][5]["name"]
    meta["adapters"][5]["name"] = chr(ord(name[0]) ^ 0x02) + name[1:]  # "a05" -> "c05": one bit


CONTENT_EDITS = {
    "two adapter names swapped": _swap_names,
    "one bit flipped in a name": _flip_bit_in_name,
    "threshold changed": _set("thresholds.threshold", 0.9),
    "example counts swapped": lambda m: (m["adapters"][0].update(n_examples=999)),
    "adapter path redirected": _set("adapters.3.adapter_path", "../elsewhere/a03"),
    "embedder renamed": _set("embedder.name", "other-model"),
}


@pytest.mark.parametrize("edit", list(CONTENT_EDITS.values()), ids=list(CONTENT_EDITS))
def test_any_change_to_the_index_content_is_caught(saved: Path, edit) -> None:
    before = AriadneRouter.load(saved, embedder=versions.embedder())
    probe = before.embedder.embed(["a probe query"])
    _edit(saved, edit, reseal=False)
    with pytest.raises(IndexFormatError, match="checksum"):
        after = AriadneRouter.load(saved, embedder=versions.embedder())
        # (before the fix this loaded, and answered differently for swapped names)
        assert [d.to_dict() for d in after.route_embeddings(probe)] == [d.to_dict() for d in before.route_embeddings(probe)]
    with pytest.raises(IndexFormatError, match="checksum"):
        persistence.read_index_meta(saved)


def test_a_flipped_bit_in_the_centroid_file_is_caught(saved: Path) -> None:
    path = _centroid_file(saved)
    data = bytearray(path.read_bytes())
    data[-7] ^= 0x10
    path.write_bytes(bytes(data))
    _assert_format_error(saved, "checksum")


# ------------------------------------------------------------------------------------------ unit centroids
def _rewrite_centroids(folder: Path, fn: Callable[[np.ndarray], np.ndarray]) -> None:
    """Change the centroid matrix and reseal both checksums, as a buggy writer would."""
    path = _centroid_file(folder)
    tensors = load_file(str(path))
    tensors["centroids"] = np.ascontiguousarray(fn(tensors["centroids"].copy()), dtype=np.float32)
    save_file(tensors, str(path), metadata={"format": "ariadne-routing-index"})
    meta = _meta(folder)
    meta["centroids_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    _write_meta(folder, meta)


def _zero_row(c: np.ndarray) -> np.ndarray:
    c[4] = 0.0
    return c


@pytest.mark.parametrize("change,needle", [
    (lambda c: c * 100, "norm 100"),
    (lambda c: c * 0.5, "norm 0.5"),
    (_zero_row, "norm 0"),
])
def test_centroids_that_are_not_unit_vectors_are_refused_on_load(saved: Path, change, needle: str) -> None:
    _rewrite_centroids(saved, change)
    _assert_format_error(saved, needle)


def test_centroids_that_are_not_unit_vectors_are_refused_by_the_api() -> None:
    v = np.eye(8, dtype=np.float32)[:2]
    with pytest.raises(InvalidInputError, match="norm 100"):
        CentroidIndex(("a",), (v * 100,))
    with pytest.raises(InvalidInputError, match="norm 0"):
        CentroidIndex(("a",), (np.zeros((1, 8), np.float32),))
    with pytest.raises(InvalidInputError, match="norm 3"):
        CentroidIndex(("a",), (v,)).with_adapter("b", v * 3)
    router = AriadneRouter(HashingEmbedder(8), strategy="mean")
    with pytest.raises(InvalidInputError, match="norm 0"):  # inputs that cancel out: a zero mean
        router.add_adapter_embeddings("opposites", np.stack([v[0], -v[0]]))
    assert router.adapters == []
