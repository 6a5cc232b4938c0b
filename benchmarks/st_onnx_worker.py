"""sentence-transformers' own ONNX backend, timed in its own interpreter for ``bench_embedder.py``.

Why a separate process: ``SentenceTransformer(path, backend="onnx")`` needs ``optimum-onnx``, whose only
release (0.1.0) pins transformers < 4.58 and imports transformers internals that 5.x removed, while the
project runs sentence-transformers 6 on transformers 5. So the variant runs in a venv of its own
(sentence-transformers < 6, transformers 4.57, ``optimum[onnxruntime]``), given to the benchmark as
``--st-onnx-python``. This file imports only the standard library, numpy and sentence-transformers.

Protocol: one JSON object per line on stdin, one per line back on the original stdout (everything the
libraries print goes to stderr). Timings are taken here, around ``model.encode`` only, so the pipe
costs nothing in the figures.

    python st_onnx_worker.py --model COPY_OF_MODEL_FOLDER --texts TEXTS.json [--optimize O2,O3]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a writable copy of the model folder (onnx/ is exported into it)")
    ap.add_argument("--texts", required=True, help="JSON list of the benchmark's queries")
    ap.add_argument("--optimize", default="", help="comma-separated ONNX Runtime optimisation levels, e.g. O2,O3")
    args = ap.parse_args()

    reply = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # library prints (export logs) go to stderr, never into the protocol
    sys.stdout = sys.stderr

    import onnxruntime
    import sentence_transformers
    import transformers
    from sentence_transformers import SentenceTransformer

    texts: list[str] = json.loads(open(args.texts, encoding="utf-8").read())
    models: dict[str, Any] = {}
    base = SentenceTransformer(args.model, backend="onnx", device="cpu")  # exports with optimum from the local weights
    base.save_pretrained(args.model)  # writes onnx/model.onnx, which the optimisers read
    models["default"] = base
    levels = [lv for lv in args.optimize.split(",") if lv]
    if levels:
        from sentence_transformers import export_optimized_onnx_model

        for level in levels:
            export_optimized_onnx_model(base, level, args.model)
            models[level] = SentenceTransformer(args.model, backend="onnx", device="cpu",
                                                model_kwargs={"file_name": f"onnx/model_{level}.onnx"})
    session = getattr(base[0].auto_model, "model", None)
    threads = session.get_session_options().intra_op_num_threads if session is not None else None

    def encode(name: str, batch: list[str], batch_size: int) -> np.ndarray:
        return models[name].encode(batch, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True)

    reply.write(json.dumps({"ready": True, "variants": list(models), "intra_op_num_threads": threads,
                            "versions": {"sentence_transformers": sentence_transformers.__version__,
                                         "transformers": transformers.__version__,
                                         "onnxruntime": onnxruntime.__version__,
                                         "optimum": _version("optimum"), "optimum_onnx": _version("optimum-onnx")}}) + "\n")
    for line in sys.stdin:
        cmd = json.loads(line)
        op, name = cmd["op"], cmd.get("variant", "default")
        if op == "quit":
            break
        if op == "time":
            t = time.perf_counter()
            encode(name, texts, int(cmd["batch_size"]))
            reply.write(json.dumps({"seconds": time.perf_counter() - t}) + "\n")
        elif op == "vectors":
            np.save(cmd["path"], encode(name, texts, int(cmd["batch_size"])).astype(np.float32))
            reply.write(json.dumps({"path": cmd["path"]}) + "\n")
        elif op == "single":
            ms = []
            for q in texts[:int(cmd["n"])]:
                t = time.perf_counter()
                encode(name, [q], 1)
                ms.append((time.perf_counter() - t) * 1000)
            reply.write(json.dumps({"ms": ms}) + "\n")
        else:
            reply.write(json.dumps({"error": f"unknown op {op!r}"}) + "\n")


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
