"""Device and dtype selection (``ariadne_integrations.devices``), checked on a CPU with torch's probes mocked."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from ariadne_integrations.devices import check_device, check_dtype, dtype_name, resolve_device, resolve_dtype
from ariadne_integrations.errors import InvalidInputError


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch):
    """Pretend the machine has ``gpus`` CUDA GPUs (bf16 or not) and MPS or not."""

    def set_up(gpus: int = 0, bf16: bool = True, mps: bool = False) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)

    return set_up


def test_auto_is_cpu_without_a_gpu(machine) -> None:
    machine(gpus=0)
    assert resolve_device("auto") == resolve_device(None) == resolve_device() == "cpu"
    assert resolve_dtype("auto", "cpu") is torch.float32
    assert resolve_dtype(None, "cpu") is torch.float32


def test_auto_is_cuda_when_a_gpu_is_there_and_never_mps(machine) -> None:
    machine(gpus=2)
    assert resolve_device("auto") == "cuda:0"
    machine(gpus=0, mps=True)
    assert resolve_device("auto") == "cpu"  # MPS only when asked
    assert resolve_device("mps") == "mps"
    assert resolve_dtype("auto", "mps") is torch.float32


def test_cuda_spellings(machine) -> None:
    machine(gpus=2)
    assert resolve_device("cuda") == "cuda:0"
    assert resolve_device("CUDA:1") == "cuda:1"
    assert resolve_device(" cuda:0 ") == "cuda:0"


def test_auto_dtype_on_gpu_is_bf16_else_fp16(machine) -> None:
    machine(gpus=1, bf16=True)
    assert resolve_dtype("auto", "cuda:0") is torch.bfloat16
    machine(gpus=1, bf16=False)
    assert resolve_dtype("auto", "cuda:0") is torch.float16
    with pytest.raises(InvalidInputError, match="does not support it; use dtype='float16'"):
        resolve_dtype("bf16", "cuda:0")


@pytest.mark.parametrize(("spelling", "expected"), [
    ("float32", torch.float32), ("fp32", torch.float32), ("bf16", torch.bfloat16), ("bfloat16", torch.bfloat16),
    ("fp16", torch.float16), ("float16", torch.float16), ("torch.float16", torch.float16), (torch.float64, torch.float64),
])
def test_explicit_dtypes(machine, spelling, expected) -> None:
    machine(gpus=0)
    assert resolve_dtype(spelling, "cpu") is expected


def test_missing_devices_say_what_to_do(machine) -> None:
    machine(gpus=1)
    with pytest.raises(InvalidInputError, match=r"only 1 CUDA GPU\(s\) visible \(cuda:0..cuda:0\)"):
        resolve_device("cuda:9")
    machine(gpus=0)
    with pytest.raises(InvalidInputError, match=r"no CUDA GPU is available.*use device='cpu' or 'auto'"):
        resolve_device("cuda")
    with pytest.raises(InvalidInputError, match="MPS backend is not available"):
        resolve_device("mps")


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "cuda:", "tpu", ""])
def test_unknown_device_names(bad) -> None:
    with pytest.raises(InvalidInputError, match="unknown device"):
        check_device(bad)
    with pytest.raises(InvalidInputError, match="unknown device"):
        resolve_device(bad)


def test_unknown_dtype_names() -> None:
    with pytest.raises(InvalidInputError, match="unknown dtype 'int8'"):
        check_dtype("int8")
    with pytest.raises(InvalidInputError, match="unknown dtype"):
        resolve_dtype("double-ish", "cpu")
    assert check_dtype(None) == "auto" and check_dtype("BF16") == "bfloat16"
    assert dtype_name(torch.bfloat16) == "bfloat16"


def test_devices_module_imports_no_torch() -> None:
    code = ("import sys; from ariadne_integrations.devices import check_device, check_dtype; "
            "check_device('cuda:1'); check_dtype('bf16'); assert 'torch' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


# ---------------------------------------------------------------------- who uses the choice
def test_runtime_checks_spelling_at_construction_and_device_at_load(machine) -> None:
    from ariadne_integrations.runtime.adapters import AdapterRuntime

    with pytest.raises(InvalidInputError, match="unknown device"):
        AdapterRuntime(device="gpu")
    with pytest.raises(InvalidInputError, match="unknown dtype"):
        AdapterRuntime(dtype="int4")
    machine(gpus=0)
    rt = AdapterRuntime(device="cuda:0")  # spelled right: construction stays cheap
    with pytest.raises(InvalidInputError, match="no CUDA GPU"):
        _ = rt.backbone
    assert AdapterRuntime().device == "cpu"


def test_load_backbone_rejects_a_missing_gpu_before_loading(machine) -> None:
    from ariadne_integrations.runtime.backbone import load_backbone

    machine(gpus=1)
    with pytest.raises(InvalidInputError, match="only 1 CUDA GPU"):
        load_backbone(None, device="cuda:3")


def test_wrapper_options_carry_device_and_dtype() -> None:
    from ariadne_integrations.core.options import RoutedModelOptions

    opts = RoutedModelOptions(device="CUDA:1", dtype="bf16")
    assert (opts.device, opts.dtype) == ("cuda:1", "bfloat16")
    assert (RoutedModelOptions().device, RoutedModelOptions().dtype) == ("auto", "auto")
    with pytest.raises(InvalidInputError, match="unknown device 'gpu'"):
        RoutedModelOptions(device="gpu")
    with pytest.raises(InvalidInputError, match="unknown dtype"):
        RoutedModelOptions(dtype="int8")


def test_embedder_follows_the_device(machine) -> None:
    from ariadne_integrations.routing.embedders import SentenceTransformerEmbedder, default_embedder

    machine(gpus=0)
    emb = SentenceTransformerEmbedder(None)  # auto
    assert emb.device == "cpu"
    assert default_embedder() is default_embedder("auto")
    machine(gpus=1)
    gpu = SentenceTransformerEmbedder(None, device="cuda")
    assert gpu.device == "cuda:0"
    assert gpu.onnx_encoder is None  # PyTorch on a GPU; the model is not loaded to decide it
    with pytest.raises(InvalidInputError, match="backend='onnx' runs on the CPU"):
        _ = SentenceTransformerEmbedder(None, device="cuda", backend="onnx").onnx_encoder
    with pytest.raises(InvalidInputError, match="unknown device"):
        SentenceTransformerEmbedder(None, device="gpu")


@pytest.mark.parametrize("command", [
    ["generate", "hi", "--device", "gpu"],
    ["generate", "hi", "--dtype", "int8"],
    ["train", "--data", "x.jsonl", "--out", "o", "--device", "tpu"],
    ["serve", "--index", "i", "--device", "gpu"],
])
def test_cli_rejects_bad_device_and_dtype_in_one_line(command) -> None:
    from typer.testing import CliRunner

    from ariadne_integrations.cli import app, runtime_commands, serve_commands  # noqa: F401  (registers the commands)

    res = CliRunner().invoke(app, command)
    assert res.exit_code == 2 and "error: unknown d" in res.stderr, (res.stdout, res.stderr)


def test_cli_train_says_when_the_gpu_is_missing(machine, tmp_path) -> None:
    from typer.testing import CliRunner

    from ariadne_integrations.cli import app, runtime_commands  # noqa: F401

    machine(gpus=0)
    data = tmp_path / "d.jsonl"
    data.write_text('{"input": "a", "target": "b"}\n')
    res = CliRunner().invoke(app, ["train", "--data", str(data), "--out", str(tmp_path / "o"), "--device", "cuda:0"])
    assert res.exit_code == 2 and "no CUDA GPU is available" in res.stderr, (res.stdout, res.stderr)
