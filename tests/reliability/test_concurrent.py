"""A reader loading an index in a loop while another process re-saves it (and is killed at random moments).

Every load must succeed and return exactly one of the saved versions (tests/reliability/versions.py): no
failed load, no mix of two versions. The counts are printed (run with -s to see them) and asserted.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ariadne_integrations.routing.router import AriadneRouter
from tests.reliability import versions

REPO = Path(__file__).resolve().parents[2]
SAVE_SECONDS = 12.0  # how long the saver re-saves in the plain and the mixed-folder test
KILLS = 20  # how many times the kill test kills the saver (bounded in time too)
KILL_TEST_MAX_S = 60.0


@pytest.fixture(scope="module")
def expected() -> dict[tuple, int]:
    return {versions.signature(versions.build(v)): v for v in range(3)}


def _saver(folder: Path, seconds: float, first: int = 1) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "tests.reliability.versions", str(folder), str(seconds), str(first)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class Reader:
    """Loads ``folder`` in a loop until stopped; counts loads, failures, and loads matching no version."""

    def __init__(self, folder: Path, expected: dict[tuple, int]) -> None:
        self.folder, self.expected = folder, expected
        self.loads = 0
        self.seen: dict[int, int] = {}
        self.failures: list[str] = []
        self.mixes = 0
        self._stop = threading.Event()
        self._emb = versions.embedder()

    def load_once(self) -> None:
        try:
            router = AriadneRouter.load(self.folder, embedder=self._emb)
        except Exception as exc:  # noqa: BLE001 - counting every kind of failure is the point
            self.failures.append(f"{type(exc).__name__}: {exc}")
            return
        self.loads += 1
        v = self.expected.get(versions.signature(router))
        if v is None:
            self.mixes += 1
        else:
            self.seen[v] = self.seen.get(v, 0) + 1

    def run(self) -> None:
        while not self._stop.is_set():
            self.load_once()

    def stop(self) -> None:
        self._stop.set()

    def report(self, what: str) -> str:
        return (f"{what}: {self.loads} loads ({self.seen}), {len(self.failures)} failed, {self.mixes} mixed; "
                f"first failures: {self.failures[:3]}")


def _leftovers(folder: Path) -> list[str]:
    """Anything a finished save should not leave: temporary manifests, more than two snapshots."""
    bad = [p.name for p in folder.iterdir() if ".tmp" in p.name or p.name.startswith(".")]
    snaps = folder / "snapshots"
    if snaps.is_dir() and len(list(snaps.iterdir())) > 2:
        bad.append(f"{len(list(snaps.iterdir()))} snapshots")
    bad += [p.name for p in folder.parent.iterdir() if p != folder]  # nothing beside the folder
    return bad


@pytest.mark.parametrize("mixed", [False, True], ids=["index-only", "with-other-files"])
def test_loads_during_resaves_never_fail_or_mix(tmp_path: Path, expected, mixed: bool) -> None:
    folder = tmp_path / "project" / "index"
    versions.build(0).save(folder)
    if mixed:  # adapters and notes beside the index files, in the same folder
        (folder / "adapters" / "a00").mkdir(parents=True)
        (folder / "adapters" / "a00" / "adapter_config.json").write_text("{}")
        (folder / "README.md").write_text("ours")
    saver = _saver(folder, SAVE_SECONDS)
    assert saver.stdout is not None
    assert saver.stdout.readline().strip() == "ready"
    reader = Reader(folder, expected)
    deadline = time.monotonic() + SAVE_SECONDS
    while time.monotonic() < deadline and saver.poll() is None:
        reader.load_once()
    out, err = saver.communicate(timeout=120)
    assert saver.returncode == 0, err
    saves = int(out.split()[-1])
    print(f"\n{reader.report('mixed folder' if mixed else 'index folder')}; {saves} saves by the other process")
    assert reader.failures == [] and reader.mixes == 0, reader.report("concurrent loads")
    assert reader.loads > 500 and saves > 30 and len(reader.seen) == 3, reader.report("too little happened")
    assert _leftovers(folder) == []
    if mixed:
        assert (folder / "README.md").read_text() == "ours" and (folder / "adapters" / "a00" / "adapter_config.json").is_file()


def test_loads_while_saves_are_killed(tmp_path: Path, expected) -> None:
    folder = tmp_path / "index"
    versions.build(0).save(folder)
    reader = Reader(folder, expected)
    thread = threading.Thread(target=reader.run, daemon=True)
    thread.start()
    rng = random.Random(1234)
    kills = 0
    started = time.monotonic()
    try:
        while kills < KILLS and time.monotonic() - started < KILL_TEST_MAX_S:
            saver = _saver(folder, 30.0, first=rng.randrange(3))
            assert saver.stdout is not None
            assert saver.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.0, 0.3))  # 0-7 saves in (one takes ~40 ms), then cut one off in the middle
            saver.send_signal(signal.SIGKILL)
            saver.wait(timeout=30)
            assert saver.returncode == -signal.SIGKILL
            kills += 1
    finally:
        reader.stop()
        thread.join(timeout=30)
    print(f"\n{reader.report('killed saves')}; {kills} saves killed with SIGKILL")
    assert reader.failures == [] and reader.mixes == 0, reader.report("loads around killed saves")
    assert kills >= 10 and reader.loads > 100 and len(reader.seen) >= 2
    # the index is whichever version was published last, complete; the next save clears the crashes' leftovers
    last = AriadneRouter.load(folder, embedder=versions.embedder())
    assert versions.signature(last) in expected
    print(f"left by the last killed save: {_leftovers(folder) or 'nothing'}")
    versions.build(1).save(folder)
    assert _leftovers(folder) == []
    assert versions.signature(AriadneRouter.load(folder, embedder=versions.embedder())) == versions.signature(versions.build(1))
