"""Issue "Reliability" 1: saving writes only where it may, atomically, and a killed save leaves a whole index."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ariadne_integrations.cli import app, index_commands, route_commands  # noqa: F401  (registers the commands)
from ariadne_integrations.errors import IndexOverwriteError
from ariadne_integrations.routing.router import AriadneRouter
from tests.reliability import versions

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()
MAX_STEPS = 80  # a save has ~12 file-system steps; bound the walk in case something loops


def _sig(folder: Path) -> tuple:
    return versions.signature(AriadneRouter.load(folder, embedder=versions.embedder()))


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------ what a save may overwrite
def test_a_folder_with_a_foreign_index_json_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "index.json").write_text('{"name": "my-project", "pages": [1, 2]}')
    before = _tree(folder)
    with pytest.raises(IndexOverwriteError, match="overwrite=True"):
        versions.build(0).save(folder)
    assert _tree(folder) == before  # nothing written, nothing replaced
    versions.build(0).save(folder, overwrite=True)  # asked for: the index goes in
    assert _sig(folder) == versions.signature(versions.build(0))


def test_a_non_empty_folder_is_refused_but_our_own_index_and_empty_folders_are_fine(tmp_path: Path) -> None:
    other = tmp_path / "other"
    (other / "src").mkdir(parents=True)
    (other / "src" / "main.py").write_text("print('hi')")
    with pytest.raises(IndexOverwriteError, match="not a routing index"):
        versions.build(0).save(other)
    assert sorted(p.name for p in other.iterdir()) == ["src"]
    empty = tmp_path / "empty"
    empty.mkdir()
    versions.build(0).save(empty)
    versions.build(1).save(empty)  # re-saving over our own index is normal
    (empty / "adapters").mkdir()  # files beside an index of ours: still ours
    versions.build(2).save(empty)
    assert _sig(empty) == versions.signature(versions.build(2))


def test_an_index_of_a_newer_format_is_not_replaced_silently(tmp_path: Path) -> None:
    folder = tmp_path / "idx"
    versions.build(0).save(folder)
    meta = json.loads((folder / "index.json").read_text())
    (folder / "index.json").write_text(json.dumps({**meta, "version": 99}))
    with pytest.raises(IndexOverwriteError, match="newer"):
        versions.build(1).save(folder)
    versions.build(1).save(folder, overwrite=True)
    assert _sig(folder) == versions.signature(versions.build(1))


def test_cli_build_refuses_a_foreign_folder_before_embedding_and_overwrite_allows_it(tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"input": t, "task": k}) + "\n"
                            for k, ts in {"sql": ["select 1", "drop table t"], "chat": ["hello", "hi there"]}.items() for t in ts))
    out = tmp_path / "docs"
    out.mkdir()
    (out / "index.json").write_text('{"title": "documentation"}')
    res = runner.invoke(app, ["index", "build", "--data", str(data), "--out", str(out), "--no-progress"])
    assert res.exit_code == 2 and res.stderr.startswith("error: refusing to write") and "--overwrite" in res.stderr
    assert json.loads((out / "index.json").read_text()) == {"title": "documentation"}
    res = runner.invoke(app, ["index", "build", "--data", str(data), "--out", str(out), "--no-progress", "--overwrite"])
    assert res.exit_code == 0, res.output
    assert AriadneRouter.load(out).adapters == ["sql", "chat"]


def test_cli_build_out_root_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"input": "select 1", "task": "sql"}) + "\n")
    assert not Path("/index.json").exists()
    res = runner.invoke(app, ["index", "build", "--data", str(data), "--out", "/", "--no-progress"])
    assert res.exit_code == 2 and res.stderr.startswith("error: refusing to write")
    assert not Path("/index.json").exists() and not Path("/snapshots").exists()


# ------------------------------------------------------------------------------------------ killed and failed saves
def _run_killed_save(folder: Path, version: int, k: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "tests.reliability.kill_at", str(folder), str(version), str(k)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("mixed", [False, True], ids=["index-only", "with-other-files"])
def test_a_save_killed_at_any_step_leaves_the_old_or_the_new_index(tmp_path: Path, mixed: bool) -> None:
    """SIGKILL before each file-system step of a save in turn: the index folder always loads, as the
    version before the save or the one being saved, and the first save that completes leaves no leftovers."""
    folder = tmp_path / "idx"
    versions.build(0).save(folder)
    if mixed:
        (folder / "adapters" / "a00").mkdir(parents=True)
        (folder / "adapters" / "a00" / "adapter_model.safetensors").write_bytes(b"weights")
    sigs = {v: versions.signature(versions.build(v)) for v in range(3)}
    current = sigs[0]
    kills = 0
    for k in range(1, MAX_STEPS + 1):
        target = 1 + k % 2  # alternate versions 2 and 1, so a published save is visible
        proc = _run_killed_save(folder, target, k)
        loaded = _sig(folder)  # must not raise
        assert loaded in (current, sigs[target]), f"kill before step {k}: the index is neither version"
        current = loaded
        if proc.returncode == 0:
            assert proc.stdout.startswith("completed")
            break
        assert proc.returncode == -9, proc.stderr
        kills += 1
    else:
        pytest.fail(f"the save never completed within {MAX_STEPS} steps")
    print(f"\nsave killed before each of its {kills} file-system steps ({'with other files' if mixed else 'index only'}): "
          f"{kills} kills survived, every load whole")
    assert kills >= 3
    assert current == sigs[target]
    # the completed save removed what the killed ones left: no temporary files, at most two snapshots, nothing beside
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]
    names = sorted(p.name for p in folder.iterdir())
    assert names == (["adapters", "index.json", "snapshots"] if mixed else ["index.json", "snapshots"])
    assert len(list((folder / "snapshots").iterdir())) <= 2
    if mixed:
        assert (folder / "adapters" / "a00" / "adapter_model.safetensors").read_bytes() == b"weights"


@pytest.mark.parametrize("mixed", [False, True], ids=["index-only", "with-other-files"])
def test_a_save_that_fails_at_any_rename_keeps_a_consistent_index(tmp_path: Path, monkeypatch, mixed: bool) -> None:
    """An OSError at the 1st, 2nd, ... rename/replace of a save: the previous index still loads (checksums match)."""
    from ariadne_integrations.routing import persistence

    folder = tmp_path / "idx"
    versions.build(0).save(folder)
    if mixed:
        (folder / "notes.txt").write_text("keep")
    sig0 = versions.signature(versions.build(0))
    real_os = persistence.os
    for fail_at in (1, 2, 3):
        monkeypatch.setattr(persistence, "os", _FailingOs(real_os, fail_at))
        try:
            versions.build(1).save(folder)
            failed = False
        except OSError as exc:
            assert "simulated" in str(exc)
            failed = True
        monkeypatch.setattr(persistence, "os", real_os)
        if failed:
            assert _sig(folder) == sig0  # the save failed as a whole: the old index, intact
        else:
            assert _sig(folder) == versions.signature(versions.build(1))
            versions.build(0).save(folder)


class _FailingOs:
    """The os module, except that the ``fail_at``-th rename / replace raises OSError."""

    def __init__(self, real_os, fail_at: int) -> None:
        self.real_os, self.fail_at, self.n = real_os, fail_at, 0

    def __getattr__(self, name):
        real = getattr(self.real_os, name)
        if name not in ("rename", "replace"):
            return real

        def step(*args, **kwargs):
            self.n += 1
            if self.n == self.fail_at:
                raise OSError(f"rename {self.fail_at} failed (simulated)")
            return real(*args, **kwargs)

        return step


# ------------------------------------------------------------------------------------------ layout details
def test_a_successful_save_leaves_no_temporary_files(tmp_path: Path) -> None:
    folder = tmp_path / "idx"
    for v in (0, 1, 2, 0, 1):
        versions.build(v).save(folder)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]
        assert sorted(p.name for p in folder.iterdir()) == ["index.json", "snapshots"]
        assert 1 <= len(list((folder / "snapshots").iterdir())) <= 2  # this save's and the one before (readers in flight)
    meta = json.loads((folder / "index.json").read_text())
    assert meta["version"] == 2 and meta["generation"] == 5
    assert (folder / "snapshots" / meta["snapshot"] / "centroids.safetensors").is_file()


def test_saving_through_a_symlink_updates_its_target(tmp_path: Path) -> None:
    real = tmp_path / "releases" / "v1"
    versions.build(0).save(real)
    link = tmp_path / "current"
    link.symlink_to(real, target_is_directory=True)
    versions.build(1).save(link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert _sig(real) == _sig(link) == versions.signature(versions.build(1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current", "releases"]


def test_the_old_layout_loads_and_is_migrated_on_save(tmp_path: Path, real_embedder) -> None:
    # the packaged demo index as it was saved in format 1 (before versioned snapshots)
    old = tmp_path / "index"
    shutil.copytree(Path(__file__).parent / "fixtures" / "index_v1", old)
    assert sorted(p.name for p in old.iterdir()) == ["centroids.safetensors", "index.json"]
    assert json.loads((old / "index.json").read_text())["version"] == 1
    router = AriadneRouter.load(old, embedder=real_embedder)
    query = "convert 3 March 2021 to ISO format"
    before = router.route(query).to_dict()
    router.save(old)  # version 1 -> version 2; the old centroid file stays one generation (readers in flight)
    assert json.loads((old / "index.json").read_text())["version"] == 2
    assert (old / "centroids.safetensors").is_file()
    again = AriadneRouter.load(old, embedder=real_embedder)
    assert again.route(query).to_dict() == before and again.adapters == router.adapters
    again.save(old)
    assert sorted(p.name for p in old.iterdir()) == ["index.json", "snapshots"]
    assert AriadneRouter.load(old, embedder=real_embedder).route(query).to_dict() == before
