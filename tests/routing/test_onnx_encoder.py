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


@pytest.mark.parametrize("threads", [1, 2])
def test_bulk_batches_keep_order_and_match_pytorch(cache_dir, threads):
    """Many batches of mixed lengths (sorted by token count, run side by side) come back in input order."""
    texts = [f"{' '.join(['word'] * (i % 23 + 1))} number {i}" for i in range(150)] + TEXTS
    want = SentenceTransformerEmbedder(None, backend="torch").embed(texts)
    base = SentenceTransformerEmbedder(None, backend="onnx").onnx_encoder
    enc = onnx_encoder.OnnxSentenceEncoder(base.path, base.tokenizer, base.max_seq_length, base.pooling,
                                           base.input_names, threads=threads)
    got = enc.encode(texts, batch_size=7, show_progress=True)
    assert got.shape == want.shape and np.abs(got - want).max() < 1e-5
    with ThreadPoolExecutor(3) as pool:  # concurrent bulk calls share the workers without mixing rows
        outs = list(pool.map(lambda k: enc.encode(texts[k::3], batch_size=5), range(3)))
    for k, out in enumerate(outs):
        assert np.abs(out - want[k::3]).max() < 1e-5


_FORK_SCRIPT = """
import multiprocessing as mp, sys
import numpy as np
from ariadne_integrations.routing.embedders import SentenceTransformerEmbedder

def child(emb, texts, queue):
    queue.put((emb.embed(texts), emb.embed([texts[3]])[0]))

if __name__ == "__main__":
    parent_bulk = sys.argv[1] == "1"
    emb = SentenceTransformerEmbedder(None, backend="onnx")
    texts = [f"query number {i} about the weather in town {i % 7}" for i in range(70)]
    want = SentenceTransformerEmbedder(None, backend="torch").embed(texts)
    if parent_bulk:
        emb.embed(texts)  # the parent starts its worker pool before the fork
    emb.embed(texts[:1])
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=child, args=(emb, texts, queue))
    proc.start()
    try:
        bulk, single = queue.get(timeout=300)  # read before join: a child with queued data waits for it
    except Exception:
        print("HUNG"); proc.kill(); sys.exit(3)
    proc.join(30)
    ok = np.abs(bulk - want).max() < 1e-5 and np.abs(single - want[3]).max() < 1e-5
    print("OK" if ok else "MISMATCH")
"""


@pytest.mark.parametrize("parent_bulk", [True, False])
def test_forked_child_embeds_instead_of_hanging(cache_dir, parent_bulk, tmp_path):
    """gunicorn --preload / multiprocessing fork: the child gets its own workers (and its own
    single-threaded session when the parent never needed one). The parent is a fresh process, as a
    preloading server's master is: forking this test process, with every thread earlier tests left
    behind, would test those threads rather than the embedder."""
    import multiprocessing as mp
    import os
    import subprocess
    import sys

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform")
    script = tmp_path / "fork_embed.py"
    script.write_text(_FORK_SCRIPT, encoding="utf-8")
    out = subprocess.run([sys.executable, str(script), "1" if parent_bulk else "0"], capture_output=True, text=True,
                         timeout=600, env={**os.environ, "ARIADNE_CACHE_DIR": str(cache_dir)})
    assert out.stdout.strip().splitlines()[-1:] == ["OK"], (out.stdout[-500:], out.stderr[-2000:])



def _op_types(path) -> set[str]:
    import onnx

    return {n.op_type for n in onnx.load(str(path)).graph.node}


def test_export_is_fused_and_unchanged(cache_dir):
    """The cached export has ONNX Runtime's fused attention / LayerNorm (a versioned file name, so an older
    plain export is not reused) and still gives PyTorch's embeddings (test above)."""
    emb = SentenceTransformerEmbedder(None, backend="onnx")
    emb.embed(["warm"])
    path = next((cache_dir / "embedders").glob("*.onnx"))
    assert path.name.endswith(f"-e{onnx_encoder.EXPORT_VERSION}.onnx")
    ops = _op_types(path)
    assert {"Attention", "SkipLayerNormalization"} <= ops, ops
    assert not list((cache_dir / "embedders").glob("*.tmp*")) and not list((cache_dir / "embedders").glob("*.fused"))


def test_fusion_that_changes_outputs_is_not_kept(cache_dir, monkeypatch, caplog):
    monkeypatch.setattr(onnx_encoder, "_FUSION_TOLERANCE", -1.0)  # any difference at all counts as a change
    emb = SentenceTransformerEmbedder(None, backend="onnx")
    with caplog.at_level(logging.WARNING, logger="ariadne_integrations.routing.onnx_encoder"):
        got = emb.embed(TEXTS[:2])
    path = next((cache_dir / "embedders").glob("*.onnx"))
    assert "keeping the plain export" in caplog.text
    assert "Attention" not in _op_types(path) and "MatMul" in _op_types(path)
    assert np.abs(got - SentenceTransformerEmbedder(None, backend="torch").embed(TEXTS[:2])).max() < 1e-5


def test_spinning_off_rebuilds_sessions_and_keeps_embeddings(cache_dir, monkeypatch):
    """set_onnx_spinning(False) (what a routed generator sets) applies to encoders made before and after it."""
    monkeypatch.setattr(onnx_encoder, "_SPINNING", True)
    key = onnx_encoder._SPIN_KEY
    emb = SentenceTransformerEmbedder(None, backend="onnx")
    before = emb.embed(TEXTS)
    enc = emb.onnx_encoder
    assert enc.session.get_session_options().get_session_config_entry(key) == "1"
    onnx_encoder.set_onnx_spinning(False)
    assert enc.spinning is False and enc.session.get_session_options().get_session_config_entry(key) == "0"
    assert np.abs(emb.embed(TEXTS) - before).max() < 1e-6
    onnx_encoder._SESSIONS.clear()
    later = SentenceTransformerEmbedder(None, backend="onnx")
    later.embed(["x"])
    assert later.onnx_encoder is not enc and later.onnx_encoder.spinning is False
    with pytest.raises(InvalidInputError, match="True or False"):
        onnx_encoder.set_onnx_spinning("off")  # type: ignore[arg-type]
