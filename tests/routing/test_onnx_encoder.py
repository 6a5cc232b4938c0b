"""The ONNX Runtime path of the default embedder: same embeddings as PyTorch, safe fallbacks."""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from ariadne_integrations.errors import InvalidInputError
from ariadne_integrations.routing import onnx_encoder
from ariadne_integrations.routing.embedders import SentenceTransformerEmbedder

pytest.importorskip("onnxruntime", reason="the [fast] extra is part of the test install")

TEXTS = [
    "is this review positive?",
    "Translate to SQL: list the products in the garden category",
    "hi",
    "What is the date in ISO format? Our flight leaves on March 3rd, 2024, at 6am from gate B12.",
    " ".join(["a very long query that the encoder must truncate"] * 60),  # > 256 tokens
]


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ARIADNE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(onnx_encoder, "_SESSIONS", {})
    return tmp_path


def test_onnx_embeddings_match_pytorch(cache_dir):
    onnx = SentenceTransformerEmbedder(None, backend="onnx")
    torch_ = SentenceTransformerEmbedder(None, backend="torch")
    got, want = onnx.embed(TEXTS, batch_size=2), torch_.embed(TEXTS)
    assert onnx.onnx_encoder is not None and torch_.onnx_encoder is None
    assert list((cache_dir / "embedders").glob("*.onnx"))  # exported once, into the cache folder
    assert got.shape == want.shape == (len(TEXTS), 384) and got.dtype == np.float32
    assert np.abs(got - want).max() < 1e-5
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    single = onnx.embed([TEXTS[3]])
    assert np.abs(single[0] - want[3]).max() < 1e-5
    assert onnx.fingerprint == torch_.fingerprint  # the same model: indices stay interchangeable


def test_auto_is_onnx_and_concurrent_calls_agree(cache_dir):
    emb = SentenceTransformerEmbedder(None)
    ref = emb.embed(TEXTS)
    assert emb.onnx_encoder is not None
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda i: emb.embed([TEXTS[i % len(TEXTS)]])[0], range(40)))
    for i, v in enumerate(outs):
        assert np.abs(v - ref[i % len(TEXTS)]).max() < 1e-5


def test_corrupt_cached_model_falls_back_then_reexports(cache_dir, caplog):
    SentenceTransformerEmbedder(None, backend="onnx").embed(["warm"])
    path = next((cache_dir / "embedders").glob("*.onnx"))
    path.write_bytes(b"not an onnx model")
    onnx_encoder._SESSIONS.clear()
    emb = SentenceTransformerEmbedder(None)
    with caplog.at_level(logging.WARNING, logger="ariadne_integrations.routing.onnx_encoder"):
        out = emb.embed(TEXTS[:2])
    assert emb.onnx_encoder is None and "using PyTorch" in caplog.text  # routed on, with the same model
    assert np.abs(out - SentenceTransformerEmbedder(None, backend="torch").embed(TEXTS[:2])).max() < 1e-5
    assert not path.exists()  # removed, so the next process exports a good one
    assert SentenceTransformerEmbedder(None, backend="onnx").embed(["again"]).shape == (1, 384)
    assert path.is_file()


def test_backend_errors(cache_dir, monkeypatch):
    with pytest.raises(InvalidInputError, match="backend must be"):
        SentenceTransformerEmbedder(None, backend="tensorrt")
    monkeypatch.setattr(onnx_encoder, "onnx_available", lambda: False)
    with pytest.raises(InvalidInputError, match=r"onnxruntime and onnx"):
        SentenceTransformerEmbedder(None, backend="onnx").embed(["x"])
    auto = SentenceTransformerEmbedder(None)
    assert auto.embed(["x"]).shape == (1, 384) and auto.onnx_encoder is None
