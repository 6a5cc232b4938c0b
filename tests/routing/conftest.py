"""Routing-suite fixtures: the real default embedder (loaded once), small real data subsets."""
from __future__ import annotations

import json
import random
from collections import OrderedDict
from pathlib import Path

import pytest

from ariadne_integrations.testing import CachingEmbedder
from tests.routing.toy_data import TOY


@pytest.fixture(scope="session")
def embedder() -> CachingEmbedder:
    return CachingEmbedder()



@pytest.fixture(scope="session")
def toy_examples() -> dict[str, list[str]]:
    return {k: list(v) for k, v in TOY.items()}


@pytest.fixture(scope="session")
def toy_router(embedder, toy_examples):
    from ariadne_integrations.routing.router import AriadneRouter

    return AriadneRouter.from_examples(toy_examples, embedder=embedder)


def _subset(path: Path, per_label: int, skip: int = 0) -> list[tuple[str, str]]:
    """``per_label`` rows of every label, drawn with a fixed seed (rows ``skip:skip+per_label`` of the shuffle).

    Why shuffled: the files are sorted by intent, so the first rows of a label cover only one intent.
    """
    groups: OrderedDict[str, list[str]] = OrderedDict()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            groups.setdefault(rec["task"], []).append(rec["input"])
    out = []
    for lab, texts in groups.items():
        random.Random(0).shuffle(texts)
        out.extend((t, lab) for t in texts[skip : skip + per_label])
    return out


@pytest.fixture(scope="session")
def bbh_subset(benchmarks_dir):
    """BBH: 8 train and 3 dev inputs for each of the 27 tasks (long texts: kept small for 2 cores)."""
    return _subset(benchmarks_dir / "bbh" / "train.jsonl", 8), _subset(benchmarks_dir / "bbh" / "dev.jsonl", 3)


@pytest.fixture(scope="session")
def clinc_subset(benchmarks_dir):
    """CLINC150 (10 domains): 100 train + 20 dev + 15 held-out per label (dev has an ``oos`` label), 100 OOS."""
    train = _subset(benchmarks_dir / "clinc150" / "train.jsonl", 100)
    dev = _subset(benchmarks_dir / "clinc150" / "dev.jsonl", 20)
    held = _subset(benchmarks_dir / "clinc150" / "train.jsonl", 15, skip=1200)
    oos = [t for t, _ in _subset(benchmarks_dir / "clinc150" / "train_oos.jsonl", 100)]
    return train, dev, held, oos
