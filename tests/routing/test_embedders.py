"""The default embedder (real all-MiniLM-L6-v2, offline) and input validation."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ariadne_integrations.errors import InvalidInputError
from ariadne_integrations.routing.embedders import (
    DEFAULT_MODEL_NAME,
    Embedder,
    SentenceTransformerEmbedder,
    default_embedder,
    default_model_path,
    fingerprint_folder,
    load_embedder,
    validate_texts,
)


def test_default_embedder_is_real_minilm_unit_rows() -> None:
    emb = default_embedder()
    assert isinstance(emb, Embedder)
    assert emb.name == DEFAULT_MODEL_NAME
    v = emb.embed(["how is the weather in Rome", "what's the forecast for Rome", "select * from users"])
    assert v.dtype == np.float32 and v.shape == (3, 384) and emb.dimension == 384
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    # paraphrases are closer than unrelated text: a real model, not noise
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3


def test_embedding_is_deterministic_and_batch_independent() -> None:
    emb = default_embedder()
    texts = ["one short text", "another, slightly longer text about routing adapters"]
    a = emb.embed(texts, batch_size=1)
    b = emb.embed(texts[::-1], batch_size=64)[::-1]
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_model_loads_once_and_is_shared() -> None:
    a, b = SentenceTransformerEmbedder(None), SentenceTransformerEmbedder("default")
    assert a.model is b.model is default_embedder().model
    assert a.fingerprint == b.fingerprint


def test_local_path_is_accepted_and_has_the_same_fingerprint() -> None:
    path = default_model_path()
    assert path is not None
    emb = SentenceTransformerEmbedder(str(path))
    assert emb.fingerprint == default_embedder().fingerprint


def test_fingerprint_changes_with_model_files(tmp_path: Path) -> None:
    src = default_model_path()
    copy = tmp_path / "model"
    shutil.copytree(src, copy, ignore=shutil.ignore_patterns("model.safetensors"))
    (copy / "model.safetensors").symlink_to(src / "model.safetensors")
    fp = fingerprint_folder(copy)
    assert fp == fingerprint_folder(src)
    (copy / "README.md").write_text("docs do not change the model")
    assert fingerprint_folder(copy) == fp
    cfg = (copy / "config.json").read_text()
    (copy / "config.json").write_text(cfg.replace("384", "385", 1))
    assert fingerprint_folder(copy) != fp


@pytest.mark.parametrize(
    "texts,needle",
    [
        ([], "empty"),
        ("just a string", "not a single str"),
        (["ok", ""], r"texts\[1\] is empty"),
        (["ok", "ok", "   "], r"texts\[2\] is empty"),
        (["ok", 3], r"texts\[1\] is a int"),
        (None, "must be a list"),
    ],
)
def test_bad_texts_name_the_offending_item(texts, needle: str) -> None:
    with pytest.raises(InvalidInputError, match=needle):
        validate_texts(texts)
    with pytest.raises(InvalidInputError):
        default_embedder().embed(texts)


def test_load_embedder_specs() -> None:
    assert load_embedder(None) is default_embedder()
    assert load_embedder("default") is default_embedder()
    emb = default_embedder()
    assert load_embedder(emb) is emb
    with pytest.raises(InvalidInputError, match="embedder must be"):
        load_embedder(42)  # type: ignore[arg-type]


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    emb = SentenceTransformerEmbedder("no-such-org/no-such-model-xyz")
    with pytest.raises(InvalidInputError, match="could not load embedder"):
        emb.embed(["hello"])


def test_load_embedder_does_not_load_models() -> None:
    lazy = SentenceTransformerEmbedder("no-such-org/not-loaded-yet")
    assert load_embedder(lazy) is lazy  # would raise if the type check loaded the model
