#!/usr/bin/env python
"""Route and answer the demo examples on a CUDA GPU and on the CPU, and compare.

    python scripts/check_gpu.py                  # cuda (dtype auto: bf16/fp16) and cuda float32 vs cpu float32
    python scripts/check_gpu.py --device cuda:1 --dtype float16 --json out.json

Routes every prompt of ``ariadne_integrations/demo/examples.json`` through the packaged demo index (embedder
on that device) and answers all of them in one mixed-adapter batch (greedy, 32 new tokens) with the demo
adapters on the embedded SmolLM2 backbone; prints, per setting, how many routes and answers equal the CPU's and
how many answers are right (the demo tests' rule). Exits 2 with a clear message when no CUDA GPU is visible.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MAX_NEW_TOKENS = 32


def _first_line(text: str) -> str:
    return text.splitlines()[0].strip() if text else ""


def _right(task: str, answer: str, expected: str) -> bool:
    """The demo tests' rule: SQL up to case, spacing, quote style and final ';'; others the exact first line."""
    if task == "sql":
        def key(t: str) -> str:
            return " ".join(_first_line(t).replace('"', "'").lower().rstrip(";").split())
        return key(answer) == key(expected)
    return _first_line(answer) == expected


def run(device: str, dtype: str) -> dict[str, Any]:
    """Routes, answers and timings of the demo examples on ``device`` in ``dtype``."""
    from ariadne_integrations.demo import demo_examples, demo_index_path
    from ariadne_integrations.devices import dtype_name, resolve_device, resolve_dtype
    from ariadne_integrations.routing.router import AriadneRouter
    from ariadne_integrations.runtime.adapters import AdapterRuntime
    from ariadne_integrations.runtime.generation import GenerationConfig

    where = resolve_device(device)
    examples = demo_examples()
    prompts = [e["prompt"] for e in examples]
    t0 = time.perf_counter()
    router = AriadneRouter.load(demo_index_path(), device=where)
    decisions = router.route_batch(prompts)
    t_route = time.perf_counter() - t0
    rt = AdapterRuntime(None, {t: p for t in router.adapters if (p := router.adapter_path(t))}, device=where, dtype=dtype)
    t1 = time.perf_counter()
    outs = rt.generate(prompts, [d.best for d in decisions], GenerationConfig(max_new_tokens=MAX_NEW_TOKENS))
    t_gen = time.perf_counter() - t1
    return {
        "device": where, "dtype": dtype_name(resolve_dtype(dtype, where)),
        "embedder_onnx": getattr(router.embedder, "onnx_encoder", None) is not None,
        "routes": [d.best for d in decisions], "answers": [o.text for o in outs],
        "right": [_right(e["task"], o.text, e["expected"]) for e, o in zip(examples, outs)],
        "route_load_s": round(t_route, 2), "generate_s": round(t_gen, 2), "n": len(prompts),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="CUDA device to check (cuda, cuda:N)")
    ap.add_argument("--dtype", action="append", help="dtype(s) on the GPU (default: auto and float32)")
    ap.add_argument("--json", type=Path, help="also write every answer to this file")
    args = ap.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        build = torch.version.cuda
        print(f"no CUDA GPU here (torch {torch.__version__}, {'CPU-only build' if build is None else f'CUDA {build}, no device'}); "
              "run this script on a machine with a CUDA GPU and a CUDA build of torch", file=sys.stderr)
        return 2
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}")
    cpu = run("cpu", "float32")
    results = {"cpu/float32": cpu}
    for dtype in args.dtype or ["auto", "float32"]:
        gpu = run(args.device, dtype)
        results[f"{gpu['device']}/{gpu['dtype']}"] = gpu
    ok = True
    for name, res in results.items():
        same_routes = sum(a == b for a, b in zip(res["routes"], cpu["routes"]))
        same_answers = sum(a == b for a, b in zip(res["answers"], cpu["answers"]))
        print(f"{name:>22}: routes = cpu {same_routes}/{res['n']}, answers = cpu {same_answers}/{res['n']}, "
              f"right {sum(res['right'])}/{res['n']}, embedder {'onnx' if res['embedder_onnx'] else 'torch'}, "
              f"route+load {res['route_load_s']} s, generate {res['generate_s']} s")
        for i, (a, b) in enumerate(zip(res["answers"], cpu["answers"])):
            if a != b:
                print(f"    differs [{i}] {res['routes'][i]}: {a!r} (cpu: {b!r})")
        ok = ok and same_routes == res["n"] and sum(res["right"]) == sum(cpu["right"])
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print("agreement: OK" if ok else "agreement: DIFFERENT (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
