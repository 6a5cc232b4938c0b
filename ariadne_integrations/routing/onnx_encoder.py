"""ONNX Runtime execution of a sentence-transformers encoder: same embeddings, less per-query overhead.

Why: routing one query is one small encoder forward pass, and on a CPU PyTorch's per-operator overhead
dominates it (about 20 ms for MiniLM-L6 on our 2-core machine; ONNX Runtime does it in a few ms). The
model is exported once from the local weights (nothing is downloaded) into the cache folder, atomically,
keyed by the model's fingerprint; the embeddings match PyTorch's to ~1e-7 (tested). Pipelines other than
Transformer + mean/CLS pooling (+ Normalize) stay on PyTorch.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import re
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

log = logging.getLogger(__name__)

_EXPORT_LOCK = threading.Lock()
_SESSIONS: dict[str, "OnnxSentenceEncoder"] = {}
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def onnx_available() -> bool:
    """onnxruntime (to run) and onnx (torch's exporter needs it) are both installed."""
    return importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None


def _pooling_mode(st_model: Any) -> str | None:
    """'mean' or 'cls' when the pipeline is Transformer + Pooling (+ Normalize); else None."""
    kinds = [type(m).__name__ for m in st_model]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return None
    pool = st_model[1]
    if not getattr(pool, "include_prompt", True):
        return None
    mode = getattr(pool, "pooling_mode", None)  # sentence-transformers >= 6: one string (may be "mean+max")
    if isinstance(mode, str):
        return {"mean": "mean", "cls": "cls"}.get(mode)
    mean = getattr(pool, "pooling_mode_mean_tokens", False)  # older versions: one flag per mode
    cls = getattr(pool, "pooling_mode_cls_token", False)
    others = any(getattr(pool, a, False) for a in ("pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens",
                                                    "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"))
    if others or mean == cls:
        return None
    return "mean" if mean else "cls"


class OnnxSentenceEncoder:
    """Tokenise with the model's own tokenizer, run the exported transformer in ONNX Runtime, pool, normalise."""

    def __init__(self, onnx_path: Path, tokenizer: Any, max_seq_length: int, pooling: str, input_names: Sequence[str],
                 threads: int | None = None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or min(os.cpu_count() or 1, 8)
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        self.pooling = pooling
        self.input_names = list(input_names)
        self.path = onnx_path
        self._tok_lock = threading.Lock()  # a fast tokenizer with padding/truncation is not re-entrant

    def _forward(self, texts: list[str]) -> np.ndarray:
        with self._tok_lock:
            enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_seq_length, return_tensors="np")
        feeds = {k: np.asarray(enc[k], dtype=np.int64) for k in self.input_names}
        hidden = self.session.run(None, feeds)[0]
        if self.pooling == "cls":
            vecs = hidden[:, 0]
        else:
            mask = feeds["attention_mask"][..., None].astype(np.float32)
            vecs = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return (vecs / np.clip(norms, 1e-12, None)).astype(np.float32)

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """Unit-norm float32 rows in input order; batches of similar length to keep padding small."""
        if len(texts) == 1:
            return self._forward([texts[0]])
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out: np.ndarray | None = None
        starts = range(0, len(texts), batch_size)
        if show_progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="embedding", unit="batch")
        for s in starts:
            idx = order[s:s + batch_size]
            vecs = self._forward([texts[i] for i in idx])
            if out is None:
                out = np.empty((len(texts), vecs.shape[1]), dtype=np.float32)
            out[idx] = vecs
        assert out is not None
        return out


def _export(st_model: Any, path: Path, input_names: Sequence[str]) -> None:
    """torch.onnx export of the transformer's last hidden state, dynamic batch and sequence axes."""
    import torch

    transformer = st_model[0].auto_model.eval()

    class _Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = transformer

        def forward(self, *args: Any) -> Any:
            return self.inner(**dict(zip(input_names, args))).last_hidden_state

    sample = st_model.tokenizer(["an example sentence for export", "short"], padding=True, return_tensors="pt")
    args = tuple(sample[k] for k in input_names)
    axes = {k: {0: "batch", 1: "sequence"} for k in input_names} | {"hidden": {0: "batch", 1: "sequence"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            torch.onnx.export(_Hidden(), args, tmp, input_names=list(input_names), output_names=["hidden"],
                              dynamic_axes=axes, opset_version=17, dynamo=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def onnx_encoder_for(st_model: Any, name: str, fingerprint: str, cache_dir: Path) -> OnnxSentenceEncoder | None:
    """The cached ONNX encoder for this model (exported on first use), or None if it cannot serve it."""
    if not onnx_available():
        return None
    pooling = _pooling_mode(st_model)
    if pooling is None:
        log.info("embedder %s: pipeline %s is not Transformer + mean/CLS pooling; staying on PyTorch",
                 name, [type(m).__name__ for m in st_model])
        return None
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[-60:]
    path = cache_dir / "embedders" / f"{safe}-{fingerprint[:16]}.onnx"
    with _EXPORT_LOCK:
        enc = _SESSIONS.get(str(path))
        if enc is not None:
            return enc
        probe = st_model.tokenizer(["x"], return_tensors="np")
        input_names = [k for k in _INPUTS if k in probe]
        try:
            if not path.is_file():
                log.info("exporting embedder %s to ONNX once: %s", name, path)
                _export(st_model, path, input_names)
            enc = OnnxSentenceEncoder(path, st_model.tokenizer, int(st_model.max_seq_length or 512), pooling, input_names)
        except Exception as exc:  # noqa: BLE001 - a broken export or runtime must never break routing
            path.unlink(missing_ok=True)  # a corrupt cached file is re-exported next time
            log.warning("embedder %s: ONNX path unavailable (%s: %s); using PyTorch", name, type(exc).__name__, exc)
            return None
        _SESSIONS[str(path)] = enc
        return enc
