"""`ariadne train`, `ariadne generate` and `ariadne export-gguf`: the runtime's commands (torch is imported inside them)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from ariadne_integrations.cli._app import DEVICE_HELP, DTYPE_HELP, app, clean_errors
from ariadne_integrations.constants import ADAPTER_TASK_FILE
from ariadne_integrations.devices import check_device, check_dtype


@app.command("train")
@clean_errors
def train(
    data: Path = typer.Option(..., "--data", help="JSONL with one input/target pair per line."),
    out: Path = typer.Option(..., "--out", help=f"Adapter folder to write (PEFT files + {ADAPTER_TASK_FILE})."),
    task: Optional[str] = typer.Option(None, "--task", help="Task / adapter name (default: the folder name)."),
    backbone: Optional[str] = typer.Option(None, "--backbone", help="Hub id or folder; default: embedded SmolLM2-135M-Instruct."),
    input_field: str = typer.Option("input", "--input-field"),
    target_field: str = typer.Option("target", "--target-field"),
    eval_data: Optional[Path] = typer.Option(None, "--eval-data", help="Held-out JSONL to score on (default: hold out 15 %)."),
    eval_fraction: float = typer.Option(0.15, "--eval-fraction"),
    epochs: float = typer.Option(3.0, "--epochs"),
    lr: float = typer.Option(2e-3, "--lr"),
    rank: int = typer.Option(8, "--rank", help="LoRA rank r."),
    alpha: int = typer.Option(16, "--alpha"),
    target_modules: str = typer.Option("q_proj,k_proj,v_proj,o_proj", "--target-modules"),
    batch_size: int = typer.Option(8, "--batch-size"),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after this many steps (overrides --epochs)."),
    seed: int = typer.Option(0, "--seed"),
    no_score: bool = typer.Option(False, "--no-score", help="Skip the before/after held-out score."),
    as_json: bool = typer.Option(False, "--json", help="Print the training report as JSON."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    dtype: str = typer.Option("auto", "--dtype", help=DTYPE_HELP),
) -> None:
    """Train a LoRA adapter (CPU, or a GPU with --device), with the held-out exact match before and after.

    Serve the adapter with the same --backbone it was trained on: a LoRA only fits the weights it learned against.
    """
    from ariadne_integrations.runtime.training import train_lora

    report = train_lora(
        data, out, backbone=backbone, task_name=task, input_field=input_field, target_field=target_field,
        eval_data=eval_data, eval_fraction=eval_fraction, r=rank, alpha=alpha,
        target_modules=[m.strip() for m in target_modules.split(",") if m.strip()], epochs=epochs, lr=lr,
        batch_size=batch_size, max_steps=max_steps, seed=seed, score=not no_score, device=check_device(device),
        dtype=check_dtype(dtype),
    )
    if as_json:
        typer.echo(json.dumps({k: v for k, v in report.to_dict().items() if k != "losses"} | {"final_loss": report.losses[-1]}))
        return
    typer.echo(f"adapter {report.task!r} saved to {report.out_dir} ({report.steps} steps, {report.seconds:.0f} s, "
               f"final loss {report.losses[-1]:.3f})")
    if report.score_before is not None:
        typer.echo(f"held-out exact match on {report.n_eval} examples: base {report.score_before:.1%} -> adapter {report.score_after:.1%}")


@app.command("generate")
@clean_errors
def generate(
    prompts: List[str] = typer.Argument(..., help="Prompts to answer (one batch)."),
    adapter: Optional[Path] = typer.Option(None, "--adapter", help="Adapter folder (default: bare backbone)."),
    backbone: Optional[str] = typer.Option(None, "--backbone"),
    max_new_tokens: int = typer.Option(64, "--max-new-tokens"),
    temperature: float = typer.Option(0.0, "--temperature"),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    dtype: str = typer.Option("auto", "--dtype", help=DTYPE_HELP),
) -> None:
    """Answer prompts with the backbone and, optionally, one adapter folder."""
    from ariadne_integrations.runtime.adapters import AdapterRuntime
    from ariadne_integrations.runtime.generation import GenerationConfig

    rt = AdapterRuntime(backbone, {"cli": adapter} if adapter else None, device=device, dtype=dtype)
    cfg = GenerationConfig(max_new_tokens=max_new_tokens, temperature=temperature)
    for p, r in zip(prompts, rt.generate(prompts, ["cli" if adapter else None] * len(prompts), cfg)):
        typer.echo(f"{p}\n-> {r.text}")


@app.command("export-gguf")
@clean_errors
def export_gguf(
    adapter_dir: Path = typer.Argument(..., help="PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors)."),
    out: Path = typer.Option(..., "--out", help="The .gguf LoRA file to write (replaced atomically)."),
    base: Optional[Path] = typer.Option(
        None, "--base", help="Backbone GGUF or transformers model folder (head counts, shape checks); default: the embedded SmolLM2 GGUF."
    ),
    dtype: str = typer.Option("f32", "--dtype", help="f32 (exact) or f16 (half the size)."),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Convert a PEFT LoRA adapter of a Llama-architecture backbone to llama.cpp's GGUF LoRA format."""
    from ariadne_integrations.runtime.gguf_lora import export_gguf_lora

    report = export_gguf_lora(adapter_dir, out, base=base, dtype=dtype)
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
        return
    typer.echo(f"wrote {report.out} ({report.n_tensors} tensors, rank {report.rank}, alpha {report.alpha:g}, {report.dtype}; "
               f"q/k rows permuted for llama.cpp in {len(report.permuted)} tensors)")
    typer.echo(f"serve it with llama.cpp: a model entry with \"lora_path\": \"{report.out}\" beside the backbone GGUF")
