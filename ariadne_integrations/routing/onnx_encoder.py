"""ONNX Runtime execution of a sentence-transformers encoder: same embeddings, less per-query overhead.

Why: routing one query is one small encoder forward pass, and on a CPU PyTorch's per-operator overhead
dominates it; ONNX Runtime runs the same graph with far less of it (figures in the README). The
model is exported once from the local weights (nothing is downloaded) into the cache folder, atomically,
keyed by the model's fingerprint; the embeddings match PyTorch's to ~1e-7 (tested). Lists of texts are
batched by token count and the batches run side by side, one per core (see ``OnnxSentenceEncoder``).
Pipelines other than Transformer + mean/CLS pooling (+ Normalize) stay on PyTorch.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import re
import tempfile
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

log = logging.getLogger(__name__)

_EXPORT_LOCK = threading.Lock()
_SESSIONS: dict[str, OnnxSentenceEncoder] = {}
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_SPINNING = True  # whether new multi-threaded sessions spin-wait between runs (see set_onnx_spinning)
_SPIN_KEY = "session.intra_op.allow_spinning"


def set_onnx_spinning(enabled: bool) -> None:
    """Whether the ONNX encoders' worker threads spin-wait after a run, for the encoders made so far and later.

    Why: spinning makes a lone ``route()`` ~1 ms faster, but the spinning threads keep the cores busy after the
    run, and a PyTorch generation that follows right away in the same process (route, then answer) was ~30 %
    slower for it on 2 cores (``benchmarks/bench_route_then_generate.py``). So a process that routes and then
    generates turns it off (``core.RoutedGenerator`` does); routing alone keeps the default, on.
    """
    if not isinstance(enabled, bool):
        from ariadne_integrations.errors import InvalidInputError

        raise InvalidInputError(f"enabled must be True or False, got {enabled!r}")
    global _SPINNING
    _SPINNING = enabled
    with _EXPORT_LOCK:
        encoders = list(_SESSIONS.values())
    for enc in encoders:
        enc.set_spinning(enabled)


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


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class OnnxSentenceEncoder:
    """Tokenise with the model's own tokenizer, run the exported transformer in ONNX Runtime, pool, normalise.

    Two execution modes, because they want different things on a CPU: one query uses one session whose
    operators are parallel over all cores (lowest latency); a list of queries is cut into batches of
    similar token length (padding costs FLOPs) that run side by side as single-threaded session runs,
    about one per core, which keeps every core busy on its own matrix products instead of synchronising
    on small ones (measured in ``benchmarks/bench_embedder.py``).
    """

    def __init__(self, onnx_path: Path, tokenizer: Any, max_seq_length: int, pooling: str, input_names: Sequence[str],
                 threads: int | None = None) -> None:
        self.path = onnx_path
        self.threads = threads or min(_cpu_count(), 8)
        self.spinning = _SPINNING
        self.session = self._new_session(self.threads)  # one-batch calls: operators parallel over all cores
        self._pid = os.getpid()
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        self.pooling = pooling
        self.input_names = list(input_names)
        self._pad_left = getattr(tokenizer, "padding_side", "right") == "left"
        self._pad_id = int(tokenizer.pad_token_id or 0)
        self._tok_lock = threading.Lock()  # a fast tokenizer with truncation set is not re-entrant
        self._bulk_lock = threading.Lock()
        self._bulk: tuple[Any, ThreadPoolExecutor] | None = None

    def _new_session(self, threads: int) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        opts.add_session_config_entry(_SPIN_KEY, "1" if self.spinning else "0")
        return ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])

    def set_spinning(self, enabled: bool) -> None:
        """Rebuild the one-query session with its threads spinning or not (see :func:`set_onnx_spinning`); a run
        already on the old session finishes there."""
        if enabled != self.spinning:
            self.spinning = enabled
            self.session = self._new_session(self.threads)

    def _after_fork(self) -> None:
        """A forked child (gunicorn --preload, multiprocessing) inherits the worker pool but not its threads,
        so its first multi-batch call would wait forever: give it its own pool. The sessions themselves
        keep working in the child (creating new ones there can hang inside ONNX Runtime)."""
        if os.getpid() != self._pid:  # the parent's locks may have been held at the fork: new ones too
            self._tok_lock, self._bulk_lock = threading.Lock(), threading.Lock()
            if self._bulk is not None:
                self._bulk = (self._bulk[0], self._new_pool())
            self._pid = os.getpid()

    def _new_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(self.threads + 1, thread_name_prefix="ariadne-embed")

    def _bulk_runner(self) -> tuple[Any, ThreadPoolExecutor]:
        """A single-threaded session shared by one worker per core, plus one so that no core idles while a
        worker pools its batch in Python (created on the first multi-batch call)."""
        with self._bulk_lock:
            if self._bulk is None:
                self._bulk = (self._new_session(1), self._new_pool())
            return self._bulk

    def _tokenize(self, texts: list[str]) -> dict[str, list[list[int]]]:
        with self._tok_lock:
            enc = self.tokenizer(texts, padding=False, truncation=True, max_length=self.max_seq_length,
                                 return_attention_mask=False, return_token_type_ids="token_type_ids" in self.input_names)
        return {k: enc[k] for k in self.input_names if k != "attention_mask"}

    def _feeds(self, tokens: dict[str, list[list[int]]], rows: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The chosen rows padded to their longest member on the tokenizer's padding side, and their mask."""
        ids = tokens["input_ids"]
        width = max(len(ids[i]) for i in rows)
        feeds = {k: np.full((len(rows), width), self._pad_id if k == "input_ids" else 0, dtype=np.int64) for k in tokens}
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(rows):
            n = len(ids[i])
            cols = slice(width - n, width) if self._pad_left else slice(0, n)
            mask[r, cols] = 1
            for k, seqs in tokens.items():
                feeds[k][r, cols] = seqs[i]
        if "attention_mask" in self.input_names:
            feeds["attention_mask"] = mask
        return feeds, mask

    def _run(self, session: Any, feeds: dict[str, np.ndarray], mask: np.ndarray) -> np.ndarray:
        hidden = session.run(None, feeds)[0]
        if self.pooling == "cls":  # the first real token, whichever side the padding is on
            vecs = hidden[np.arange(len(hidden)), mask.argmax(axis=1)]
        else:
            m = mask[..., None].astype(np.float32)
            vecs = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return (vecs / np.clip(norms, 1e-12, None)).astype(np.float32)

    def encode(self, texts: Sequence[str], batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        """Unit-norm float32 rows in input order."""
        self._after_fork()
        tokens = self._tokenize(list(texts))
        order = np.argsort([-len(ids) for ids in tokens["input_ids"]], kind="stable")  # longest first
        chunks = [order[s:s + batch_size] for s in range(0, len(texts), batch_size)]
        run_all: Callable[..., Iterable[Any]]
        if len(chunks) == 1 or self.threads == 1:
            session, run_all = self.session, map
        else:
            session, pool = self._bulk_runner()
            run_all = pool.map
        results = run_all(lambda rows: self._run(session, *self._feeds(tokens, rows)), chunks)
        if show_progress:
            from tqdm.auto import tqdm

            results = tqdm(results, total=len(chunks), desc="embedding", unit="batch")
        sorted_vecs = np.concatenate(list(results))
        out = np.empty_like(sorted_vecs)
        out[order] = sorted_vecs
        return out


# Bumped when the exported graph changes, so a cache written by an older version is not reused (2: eager
# attention exported and fused by ONNX Runtime's transformer optimizer).
EXPORT_VERSION = 2
# transformers model types whose graphs ONNX Runtime's BERT fusions apply to.
_FUSABLE = {"bert": "bert", "roberta": "bert", "xlm-roberta": "bert", "electra": "bert"}
_FUSION_TOLERANCE = 1e-4


@contextmanager
def _eager_attention(model: Any) -> Iterator[None]:
    """Export attention as plain MatMul/Softmax (the pattern ORT's optimizer fuses; SDPA's export it does not)."""
    before = getattr(model.config, "_attn_implementation", None)
    setter = getattr(model, "set_attn_implementation", None)
    switched = False
    if before not in (None, "eager") and setter is not None:
        try:
            setter("eager")
            switched = True
        except Exception:  # noqa: BLE001 - a model that cannot switch exports as it is
            pass
    try:
        yield
    finally:
        if switched and setter is not None:
            setter(before)


def _fuse(path: str, config: Any, feeds: list[dict[str, np.ndarray]]) -> bool:
    """Fuse attention, LayerNorm and GELU in place with ONNX Runtime's transformer optimizer, only when the fused
    graph gives the same hidden states (within 1e-4) on ``feeds``; otherwise the plain export stays. True when fused.

    Why: ~15 % less time per query on all-MiniLM-L6-v2 when this was added (single query, same session: 2.3 vs
    2.7 ms on CLINC150 queries, 10.1 vs 11.1 ms on BBH prompts; embeddings within 2e-7 of the plain export)."""
    model_type = _FUSABLE.get(str(getattr(config, "model_type", "")))
    if model_type is None:
        return False
    try:
        import onnxruntime as ort
        from onnxruntime.transformers.optimizer import optimize_model

        fused = optimize_model(path, model_type=model_type, num_heads=int(config.num_attention_heads),
                               hidden_size=int(config.hidden_size))
        fused_path = path + ".fused"
        fused.save_model_to_file(fused_path)
        plain_s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        fused_s = ort.InferenceSession(fused_path, providers=["CPUExecutionProvider"])
        worst = max(float(np.abs(plain_s.run(None, f)[0] - fused_s.run(None, f)[0]).max()) for f in feeds)
    except Exception as exc:  # noqa: BLE001 - the plain export is always a valid fallback
        log.info("ONNX fusion skipped (%s: %s); keeping the plain export", type(exc).__name__, exc)
        return False
    if worst > _FUSION_TOLERANCE:
        log.warning("ONNX fusion changed the hidden states by %.2e; keeping the plain export", worst)
        os.unlink(fused_path)
        return False
    os.replace(fused_path, path)
    return True


def _export(st_model: Any, path: Path, input_names: Sequence[str]) -> None:
    """torch.onnx export of the transformer's last hidden state, dynamic batch and sequence axes, fused where
    ONNX Runtime's optimizer leaves the outputs unchanged; written atomically."""
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
    long = st_model.tokenizer(["a longer text to check the fused graph " * 40], truncation=True,
                              max_length=int(st_model.max_seq_length or 512), return_tensors="pt")
    checks = [{k: enc[k].numpy() for k in input_names} for enc in (sample, long)]  # the fused graph must match on both
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.inference_mode(), _eager_attention(transformer):
            warnings.simplefilter("ignore")
            torch.onnx.export(_Hidden(), args, tmp, input_names=list(input_names), output_names=["hidden"],
                              dynamic_axes=axes, opset_version=17, dynamo=False)
        _fuse(tmp, transformer.config, checks)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, tmp + ".fused"):
            if os.path.exists(leftover):
                os.unlink(leftover)


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
    path = cache_dir / "embedders" / f"{safe}-{fingerprint[:16]}-e{EXPORT_VERSION}.onnx"
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
