"""Embedder execution variants for routing speed, side by side in one run (medians, interleaved).

PyTorch (sentence-transformers); ONNX Runtime fp32 fed the way most wrappers do it (batches cut from
texts sorted by character length, one session whose operators use every core); the same with batches
sorted by token count (less padding); the default (token-sorted batches run side by side, one
single-threaded session run per core); and ONNX int8 dynamic quantisation (per-channel, MatMul only),
which is faster still but changes the embeddings, so it is reported, not used. Cosines are against the
PyTorch embeddings of the same texts. Repeats are interleaved across variants so that a noisy
neighbour slows all of them alike.

Run with the package installed (``pip install -e .`` in the repository), so that it measures the code
users import:

    python benchmarks/bench_embedder.py [--data ../shared/benchmarks] [--repeats 5]

Writes benchmarks/results/embedder.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]  # default data and output paths only; imports use the installed package

from ariadne_integrations.routing.embedders import SentenceTransformerEmbedder  # noqa: E402

BATCH_SIZES = (16, 32, 64, 128)
Embed = Callable[[list[str], int], np.ndarray]


def one_session(enc, sort_by: str) -> Embed:
    """Batches through the encoder's multi-threaded session one after another (the usual wrapper loop):
    each ``encode`` call below gets one batch, which the encoder runs on that session."""
    def embed(texts: list[str], batch_size: int) -> np.ndarray:
        if sort_by == "tokens":
            key = [len(i) for i in enc.tokenizer(texts, truncation=True, max_length=enc.max_seq_length)["input_ids"]]
        else:
            key = [len(t) for t in texts]
        order = np.argsort([-k for k in key], kind="stable")
        out = np.empty((len(texts), 384), dtype=np.float32)
        for s in range(0, len(texts), batch_size):
            rows = order[s:s + batch_size]
            out[rows] = enc.encode([texts[i] for i in rows], batch_size=len(rows))
        return out
    return embed


def padded_tokens_per_query(enc, texts: list[str], batch_size: int, sort_by: str) -> float:
    lengths = np.array([len(i) for i in enc.tokenizer(texts, truncation=True, max_length=enc.max_seq_length)["input_ids"]])
    key = lengths if sort_by == "tokens" else np.array([len(t) for t in texts])
    ordered = lengths[np.argsort(-key, kind="stable")]
    return float(sum(ordered[s:s + batch_size].max() * len(ordered[s:s + batch_size])
                     for s in range(0, len(ordered), batch_size)) / len(texts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "benchmarks")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "embedder.json")
    args = ap.parse_args()

    from onnxruntime.quantization import QuantType, quantize_dynamic
    from tqdm.auto import tqdm

    from ariadne_integrations.routing.onnx_encoder import OnnxSentenceEncoder

    rows = [json.loads(line) for line in (args.data / "clinc150" / "dev.jsonl").read_text().splitlines() if line.strip()]
    texts = [r["input"] for r in rows][:1024]
    torch_emb = SentenceTransformerEmbedder(None, backend="torch")
    onnx = SentenceTransformerEmbedder(None, backend="onnx").onnx_encoder
    reference = torch_emb.embed(texts)
    lengths = [len(i) for i in onnx.tokenizer(texts)["input_ids"]]

    with tempfile.TemporaryDirectory() as tmp:
        q8 = Path(tmp) / "int8.onnx"
        quantize_dynamic(str(onnx.path), str(q8), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"])
        int8 = OnnxSentenceEncoder(q8, onnx.tokenizer, onnx.max_seq_length, onnx.pooling, onnx.input_names)
        variants: dict[str, Embed] = {
            "pytorch fp32": lambda t, b: torch_emb.embed(t, batch_size=b),
            "onnx fp32, char-sorted, one session": one_session(onnx, "chars"),
            "onnx fp32, token-sorted, one session": one_session(onnx, "tokens"),
            "onnx fp32 (default)": lambda t, b: onnx.encode(t, batch_size=b),
            "onnx int8 per-channel": lambda t, b: int8.encode(t, batch_size=b),
        }
        result: dict = {"queries": len(texts), "repeats": args.repeats, "cpus": os.cpu_count(),
                        "mean_tokens_per_query": float(np.mean(lengths)),
                        "padded_tokens_per_query": {
                            sort_by: {b: padded_tokens_per_query(onnx, texts, b, sort_by) for b in BATCH_SIZES}
                            for sort_by in ("chars", "tokens")},
                        "variants": {}}
        times: dict[str, dict[int, list[float]]] = {n: {b: [] for b in BATCH_SIZES} for n in variants}
        for name, embed in variants.items():
            vecs = embed(texts, 32)
            cos = (vecs * reference).sum(axis=1)
            result["variants"][name] = {
                "cosine_to_pytorch_mean": float(cos.mean()), "cosine_to_pytorch_min": float(cos.min()),
                "single_query_p50_ms": statistics.median(_single_ms(embed, q) for q in texts[:200]),
            }
        for _ in tqdm(range(args.repeats), desc="repeats"):
            for name, embed in variants.items():
                for b in BATCH_SIZES:
                    t = time.perf_counter()
                    embed(texts, b)
                    times[name][b].append(time.perf_counter() - t)
    print(f"{len(texts)} CLINC150 dev queries, {result['mean_tokens_per_query']:.2f} tokens each on average; padded "
          "tokens per query at batch 32: sorted by characters "
          f"{result['padded_tokens_per_query']['chars'][32]:.2f}, by tokens {result['padded_tokens_per_query']['tokens'][32]:.2f}")
    for name, entry in result["variants"].items():
        entry["queries_per_s_by_batch_size"] = {b: len(texts) / statistics.median(ts) for b, ts in times[name].items()}
        qps = entry["queries_per_s_by_batch_size"]
        print(f"{name:37} cos mean {entry['cosine_to_pytorch_mean']:.4f} min {entry['cosine_to_pytorch_min']:.4f}  "
              f"single p50 {entry['single_query_p50_ms']:5.1f} ms  q/s by batch size "
              + ", ".join(f"{b}: {v:.0f}" for b, v in qps.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp_out, args.out)
    print(f"wrote {args.out}")


def _single_ms(embed: Embed, query: str) -> float:
    t = time.perf_counter()
    embed([query], 1)
    return (time.perf_counter() - t) * 1000


if __name__ == "__main__":
    main()
