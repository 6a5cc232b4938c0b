"""Shared test setup: everything offline, real models cached once per session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_BENCHMARKS = (REPO.parent / "shared" / "benchmarks").resolve()
REQUIRE_BENCHMARKS_VAR = "ARIADNE_REQUIRE_BENCHMARKS"
"""Set to 1 (CI does, in .ci/run) and a missing benchmark folder fails the tests that need it instead of skipping them."""


def benchmarks_required() -> bool:
    return os.environ.get(REQUIRE_BENCHMARKS_VAR, "").strip().lower() not in ("", "0", "false", "no")


def missing_benchmarks_message(folder: Path) -> str | None:
    """Why the benchmark data at ``folder`` cannot be used (None when it can)."""
    if not folder.is_dir():
        return f"benchmark data not found at {folder}"
    missing = [f"{d}/{f}" for d, files in (("bbh", ("train", "dev")), ("clinc150", ("train", "dev", "train_oos")))
               for f in files if not (folder / d / f"{f}.jsonl").is_file()]
    return f"benchmark data at {folder} lacks {', '.join(missing)}" if missing else None


def require_benchmarks(folder: Path) -> Path:
    """``folder`` if it holds the benchmark data; else skip the calling test, or fail it when
    $ARIADNE_REQUIRE_BENCHMARKS is set (CI sets it: there the folder is always present, so its absence is a
    broken set-up, and a silent skip would drop the real-data routing and abstention checks)."""
    why = missing_benchmarks_message(folder)
    if why is None:
        return folder
    if benchmarks_required():
        pytest.fail(f"{why}, and {REQUIRE_BENCHMARKS_VAR} is set: the real-data routing and abstention tests must run "
                    "here (put the data there, or unset the variable outside CI)", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="session")
def benchmarks_dir() -> Path:
    """../shared/benchmarks (read-only real routing data): see :func:`require_benchmarks`."""
    return require_benchmarks(SHARED_BENCHMARKS)
