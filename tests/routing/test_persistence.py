"""Saving and loading: identical decisions, atomic writes, corrupt folders and other embedders are errors."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from ariadne_integrations.errors import EmbedderMismatchError, IndexFormatError, IndexNotFoundError
from ariadne_integrations.routing import persistence
from ariadne_integrations.routing.router import AriadneRouter

QUERIES = [
    "the plot was dull and the actors were wooden",
    "sum the amount column grouped by customer",
    "is it going to snow in Oslo next week",
]


@pytest.fixture()
def saved(tmp_path: Path, toy_router, embedder) -> Path:
    toy_router.set_adapter_path("sql", tmp_path / "idx" / "adapters" / "sql")
    toy_router.set_adapter_path("weather", tmp_path / "elsewhere" / "weather")
    try:
        toy_router.set_thresholds(threshold=0.05, min_margin=0.01)
        toy_router.save(tmp_path / "idx")
    finally:
        toy_router.set_thresholds(None, None)
        toy_router.set_adapter_path("sql", None)
        toy_router.set_adapter_path("weather", None)
    return tmp_path / "idx"


def test_round_trip_gives_identical_decisions(saved: Path, toy_router, embedder) -> None:
    loaded = AriadneRouter.load(saved, embedder=embedder)
    assert loaded.adapters == toy_router.adapters
    for n in loaded.adapters:
        assert np.array_equal(loaded.centroids(n), toy_router.centroids(n))
    assert (loaded.threshold, loaded.min_margin) == (0.05, 0.01)
    toy_router.set_thresholds(0.05, 0.01)
    try:
        assert [d.to_dict() for d in loaded.route_batch(QUERIES)] == [d.to_dict() for d in toy_router.route_batch(QUERIES)]
    finally:
        toy_router.set_thresholds(None, None)
    meta = json.loads((saved / "index.json").read_text())
    paths = {a["name"]: a["adapter_path"] for a in meta["adapters"]}
    assert paths["sql"] == "adapters/sql"  # relative inside the index folder
    assert paths["weather"] == "../elsewhere/weather"  # beside the index: relative, so the pair moves together
    assert paths["sentiment"] is None
    assert loaded.adapter_path("weather") == str((saved.parent / "elsewhere" / "weather").resolve())
    assert loaded.adapter_path("sql") == str((saved / "adapters" / "sql").resolve())
    assert meta["embedder"]["dimension"] == 384 and meta["strategy"]["name"] == "kmeans"


def test_load_without_embedder_recreates_the_default(saved: Path, toy_router) -> None:
    loaded = AriadneRouter.load(saved)
    assert loaded.embedder.name == toy_router.embedder.name
    assert loaded.route(QUERIES[1]).adapter == "sql"


def test_relocated_folder_keeps_relative_adapter_paths(saved: Path, tmp_path: Path, embedder) -> None:
    moved = tmp_path / "moved"
    os.rename(saved, moved)
    assert AriadneRouter.load(moved, embedder=embedder).adapter_path("sql") == str((moved / "adapters" / "sql").resolve())


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _snapshot_file(folder: Path) -> Path:
    meta = json.loads((folder / "index.json").read_text())
    return folder / "snapshots" / meta["snapshot"] / "centroids.safetensors"


@pytest.mark.parametrize("fail_on_call", [1, 2])  # 1: the snapshot's centroid file, 2: the temporary manifest
def test_failed_save_keeps_previous_index(saved: Path, toy_router, embedder, monkeypatch, fail_on_call: int) -> None:
    before = _tree(saved)
    real_write = persistence._write_new_file
    calls = {"n": 0}

    def flaky(path, data):
        calls["n"] += 1
        if calls["n"] == fail_on_call:
            raise OSError("disk full (simulated)")
        return real_write(path, data)

    monkeypatch.setattr(persistence, "_write_new_file", flaky)
    with pytest.raises(OSError, match="simulated"):
        toy_router.save(saved)
    monkeypatch.undo()
    assert _tree(saved) == before  # no half-written snapshot or temporary manifest left
    assert sorted(p.name for p in saved.parent.iterdir()) == ["idx"]  # nothing beside the folder either
    AriadneRouter.load(saved, embedder=embedder)


def test_failed_swap_keeps_previous_index(saved: Path, toy_router, embedder, monkeypatch) -> None:
    before = _tree(saved)

    def flaky(src, dst):
        raise OSError("rename failed (simulated)")

    monkeypatch.setattr(persistence.os, "replace", flaky)
    with pytest.raises(OSError, match="simulated"):
        toy_router.save(saved)
    monkeypatch.undo()
    assert _tree(saved) == before
    AriadneRouter.load(saved, embedder=embedder)


def test_save_next_to_other_files_replaces_only_index_files(tmp_path: Path, toy_router, embedder) -> None:
    folder = tmp_path / "mixed"
    (folder / "adapters").mkdir(parents=True)
    (folder / "adapters" / "keep.txt").write_text("not ours")
    toy_router.save(folder, overwrite=True)  # a non-empty folder that is not an index yet: asked for
    toy_router.save(folder)  # now it is one of ours: re-saving needs no switch
    assert (folder / "adapters" / "keep.txt").read_text() == "not ours"
    AriadneRouter.load(folder, embedder=embedder)


def test_missing_folder_and_files(tmp_path: Path, saved: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="does not exist"):
        AriadneRouter.load(tmp_path / "nope")
    _snapshot_file(saved).unlink()
    with pytest.raises(IndexNotFoundError):
        AriadneRouter.load(saved)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(IndexNotFoundError, match=r"index\.json"):
        AriadneRouter.load(empty)


def _rewrite_meta(folder: Path, reseal: bool = True, **changes) -> None:
    """Change index.json; ``reseal``: recompute its content checksum, so the other checks are what is tested."""
    meta = json.loads((folder / "index.json").read_text())
    meta.update(changes)
    if reseal:
        meta["content_sha256"] = persistence.content_digest(meta)
    (folder / "index.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "corrupt,needle",
    [
        (lambda f: _snapshot_file(f).write_bytes(_snapshot_file(f).read_bytes()[:-100]), "checksum"),
        (lambda f: _snapshot_file(f).write_bytes(b"\x00" * 64), "checksum"),
        (lambda f: (f / "index.json").write_text((f / "index.json").read_text()[:50]), "corrupt or truncated"),
        (lambda f: (f / "index.json").write_text('{"format": "something-else", "version": 1}'), "not an ARIADNE"),
        (lambda f: (f / "index.json").write_text("[1, 2, 3]"), "not an ARIADNE"),
        (lambda f: _rewrite_meta(f, version=99), "newer than this package"),
        (lambda f: _rewrite_meta(f, embedder={"name": "x"}), "missing required entry"),
        (lambda f: _rewrite_meta(f, dimension=384, embedder={**json.loads((f / "index.json").read_text())["embedder"],
                                                             "dimension": 512}), "does not match"),
    ],
)
def test_corrupt_index_is_a_format_error(saved: Path, embedder, corrupt, needle: str) -> None:
    corrupt(saved)
    with pytest.raises(IndexFormatError, match=needle):
        AriadneRouter.load(saved, embedder=embedder)


def test_shape_mismatch_with_valid_checksum(saved: Path, embedder) -> None:
    meta = json.loads((saved / "index.json").read_text())
    meta["adapters"][0]["n_centroids"] += 1  # metadata disagrees with the tensor, checksums still right
    _rewrite_meta(saved, adapters=meta["adapters"], n_centroids=meta["n_centroids"] + 1)
    with pytest.raises(IndexFormatError, match="does not match"):
        AriadneRouter.load(saved, embedder=embedder)


def test_foreign_safetensors_with_matching_checksum(saved: Path, embedder) -> None:
    import hashlib

    from safetensors.numpy import save_file

    target = _snapshot_file(saved)
    save_file({"weights": np.zeros((3, 384), np.float32)}, str(target))
    _rewrite_meta(saved, centroids_sha256=hashlib.sha256(target.read_bytes()).hexdigest())
    with pytest.raises(IndexFormatError, match="expected 'centroids'"):
        AriadneRouter.load(saved, embedder=embedder)


class _OtherEmbedder:
    def __init__(self, dimension: int, fingerprint: str) -> None:
        self.name, self.dimension, self.fingerprint = "other", dimension, fingerprint

    def embed(self, texts, *, batch_size=32, show_progress=False):
        return np.ones((len(texts), self.dimension), np.float32) / np.sqrt(self.dimension)


def test_other_embedder_is_refused(saved: Path, embedder) -> None:
    with pytest.raises(EmbedderMismatchError, match="384-d"):
        AriadneRouter.load(saved, embedder=_OtherEmbedder(768, embedder.fingerprint))
    with pytest.raises(EmbedderMismatchError, match="fingerprint"):
        AriadneRouter.load(saved, embedder=_OtherEmbedder(384, "not-the-same"))


def test_saving_an_empty_router_is_refused(tmp_path: Path, embedder) -> None:
    from ariadne_integrations.errors import InvalidInputError

    with pytest.raises(InvalidInputError):
        AriadneRouter(embedder).save(tmp_path / "x")
    assert not (tmp_path / "x").exists()
