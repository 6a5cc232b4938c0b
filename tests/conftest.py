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


@pytest.fixture(scope="session")
def benchmarks_dir() -> Path:
    """../shared/benchmarks (read-only real routing data); tests that need it skip cleanly without it."""
    if not SHARED_BENCHMARKS.is_dir():
        pytest.skip(f"benchmark data not found at {SHARED_BENCHMARKS}")
    return SHARED_BENCHMARKS
