"""Embedder execution variants for routing speed, side by side in one run (medians).

PyTorch (sentence-transformers) vs ONNX Runtime fp32 (the default when installed) at several batch
sizes, and ONNX int8 dynamic quantisation (per-channel, MatMul only), which is faster but changes the
embeddings, so it is reported, not used. Cosines are against the PyTorch embeddings of the same texts.

    python benchmarks/bench_embedder.py [--data ../shared/benchmarks] [--repeats 3]

Writes benchmarks/results/embedder.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ariadne_integrations.routing.embedders import SentenceTransformerEmbedder  # noqa: E402


def batched_qps(embed, texts: list[str], batch_size: int, repeats: int) -> float:
    embed(texts[:128], batch_size)
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        embed(texts, batch_size)
        runs.append(time.perf_counter() - t)
    return len(texts) / statistics.median(runs)


def single_p50_ms(embed, texts: list[str]) -> float:
    times = []
    for q in texts:
        t = time.perf_counter()
        embed([q], 1)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "benchmarks")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "embedder.json")
    args = ap.parse_args()

    from onnxruntime.quantization import QuantType, quantize_dynamic

    from ariadne_integrations.routing.onnx_encoder import OnnxSentenceEncoder

    rows = [json.loads(line) for line in (args.data / "clinc150" / "dev.jsonl").read_text().splitlines() if line.strip()]
    texts = [r["input"] for r in rows][:1024]
    torch_emb = SentenceTransformerEmbedder(None, backend="torch")
    onnx = SentenceTransformerEmbedder(None, backend="onnx").onnx_encoder
    reference = torch_emb.embed(texts)

    variants = {
        "pytorch fp32": lambda t, b: torch_emb.embed(t, batch_size=b),
        "onnx fp32 (default)": lambda t, b: onnx.encode(t, batch_size=b),
    }
    with tempfile.TemporaryDirectory() as tmp:
        q8 = Path(tmp) / "int8.onnx"
        quantize_dynamic(str(onnx.path), str(q8), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"])
        int8 = OnnxSentenceEncoder(q8, onnx.tokenizer, onnx.max_seq_length, onnx.pooling, onnx.input_names)
        variants["onnx int8 per-channel"] = lambda t, b: int8.encode(t, batch_size=b)

        result: dict = {"queries": len(texts), "repeats": args.repeats, "cpus": os.cpu_count(), "variants": {}}
        for name, embed in variants.items():
            vecs = embed(texts, 64)
            cos = (vecs * reference).sum(axis=1)
            entry = {
                "cosine_to_pytorch_mean": float(cos.mean()), "cosine_to_pytorch_min": float(cos.min()),
                "single_query_p50_ms": single_p50_ms(embed, texts[:200]),
                "queries_per_s_by_batch_size": {b: batched_qps(embed, texts, b, args.repeats) for b in (16, 32, 64, 128)},
            }
            result["variants"][name] = entry
            qps = entry["queries_per_s_by_batch_size"]
            print(f"{name:24} cos mean {entry['cosine_to_pytorch_mean']:.4f} min {entry['cosine_to_pytorch_min']:.4f}  "
                  f"single p50 {entry['single_query_p50_ms']:.1f} ms  q/s by batch size "
                  + ", ".join(f"{b}: {v:.0f}" for b, v in qps.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp_out, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
