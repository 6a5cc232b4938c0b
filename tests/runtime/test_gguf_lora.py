"""`ariadne export-gguf`: the GGUF LoRA file llama.cpp reads, checked on the CPU without a server.

The permutation is checked twice: against an element-wise reference written from its definition, and against
the real backbone (the q/k rows of the embedded SmolLM2 GGUF are exactly the transformers rows permuted by it).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from typer.testing import CliRunner

from ariadne_integrations.errors import AdapterLoadError, InvalidInputError
from ariadne_integrations.runtime.gguf_lora import (
    GGUF_TENSOR_NAMES,
    base_model_info,
    export_gguf_lora,
    llama_permute_rows,
    read_gguf_lora,
)

pytest.importorskip("gguf")


def reference_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Row ``h*d + 2*i + j`` of the result is row ``h*d + j*d/2 + i`` of ``w`` (rotary halves interleaved per head)."""
    d = w.shape[0] // n_head
    out = np.empty_like(w)
    for h in range(n_head):
        for i in range(d // 2):
            for j in range(2):
                out[h * d + 2 * i + j] = w[h * d + j * (d // 2) + i]
    return out


def inverse_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


@pytest.mark.parametrize(("rows", "n_head"), [(576, 9), (192, 3), (16, 2), (8, 1)])
def test_permutation_matches_the_reference_and_inverts(rows: int, n_head: int) -> None:
    w = np.random.default_rng(rows).standard_normal((rows, 5)).astype(np.float32)
    p = llama_permute_rows(w, n_head)
    np.testing.assert_array_equal(p, reference_permute(w, n_head))
    np.testing.assert_array_equal(inverse_permute(p, n_head), w)
    with pytest.raises(InvalidInputError):
        llama_permute_rows(w[:-1], n_head)


def test_permutation_is_the_one_of_the_backbone_gguf() -> None:
    """transformers de-permutes q/k when it reads the GGUF; our permutation must map them back bit for bit."""
    import gguf

    from ariadne_integrations.runtime.backbone import default_gguf_path, resolve_backbone

    _, folder = resolve_backbone(None)
    hf = load_file(str(Path(folder) / "model.safetensors"))
    tensors = {t.name: t for t in gguf.GGUFReader(str(default_gguf_path())).tensors}
    for layer in (0, 29):
        for proj, gname, n_head in (("q_proj", "attn_q", 9), ("k_proj", "attn_k", 3)):
            w = hf[f"model.layers.{layer}.self_attn.{proj}.weight"]
            t = tensors[f"blk.{layer}.{gname}.weight"]
            g = gguf.quants.dequantize(t.data, t.tensor_type).reshape(w.shape)
            assert not np.array_equal(g, w)  # the layouts do differ
            np.testing.assert_array_equal(g, llama_permute_rows(w, n_head))


def test_backbone_head_counts_from_the_gguf() -> None:
    info = base_model_info()
    assert (info.architecture, info.n_head, info.n_head_kv, info.n_layer) == ("llama", 9, 3, 30)
    assert info.tensor_shapes["blk.0.attn_k.weight"] == (192, 576)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from ariadne_integrations.demo import demo_adapter_paths

    src = demo_adapter_paths()["sql"]
    out = tmp_path_factory.mktemp("gguf") / "sql.gguf"
    report = export_gguf_lora(src, out)
    assert report.n_tensors == 30 * 4 * 2 and report.rank == 8 and report.alpha == 16.0 and not report.folded_scale
    assert len(report.permuted) == 60
    return src, out


def test_demo_adapter_metadata_names_and_shapes(exported: tuple[Path, Path]) -> None:
    _, out = exported
    meta, tensors = read_gguf_lora(out)
    assert meta["general.architecture"] == "llama"
    assert meta["general.type"] == "adapter"
    assert meta["adapter.type"] == "lora"
    assert meta["adapter.lora.alpha"] == pytest.approx(16.0)
    shapes = base_model_info().tensor_shapes
    for layer in range(30):
        for gname in ("attn_q", "attn_k", "attn_v", "attn_output"):
            base = f"blk.{layer}.{gname}.weight"
            a, b = tensors[base + ".lora_a"], tensors[base + ".lora_b"]
            # llama.cpp's checks, in numpy's order: a is (rank, in), b is (out, rank), W is (out, in)
            assert a.shape == (8, shapes[base][1]) and b.shape == (shapes[base][0], 8)
    assert len(tensors) == 240


def test_demo_adapter_values(exported: tuple[Path, Path]) -> None:
    src, out = exported
    _, tensors = read_gguf_lora(out)
    peft = {k: v.astype(np.float32) for k, v in load_file(str(src / "adapter_model.safetensors")).items()}
    for layer in (0, 17):
        for proj, gname, n_head in (("q_proj", "attn_q", 9), ("k_proj", "attn_k", 3), ("v_proj", "attn_v", None),
                                    ("o_proj", "attn_output", None)):
            key = f"base_model.model.model.layers.{layer}.self_attn.{proj}"
            a, b = peft[key + ".lora_A.weight"], peft[key + ".lora_B.weight"]
            ga, gb = tensors[f"blk.{layer}.{gname}.weight.lora_a"], tensors[f"blk.{layer}.{gname}.weight.lora_b"]
            np.testing.assert_array_equal(ga, a)  # A is never permuted
            if n_head is None:
                np.testing.assert_array_equal(gb, b)
            else:
                np.testing.assert_array_equal(gb, reference_permute(b, n_head))
                np.testing.assert_array_equal(inverse_permute(gb, n_head), b)
                # what llama.cpp adds to the permuted weight = the permuted peft delta
                delta_gguf = (16.0 / 8) * gb @ ga
                np.testing.assert_allclose(delta_gguf, reference_permute((16.0 / 8) * b @ a, n_head), rtol=1e-6, atol=1e-7)


def test_f16_halves_the_file(exported: tuple[Path, Path], tmp_path: Path) -> None:
    src, out = exported
    half = export_gguf_lora(src, tmp_path / "half.gguf", dtype="f16").out
    assert half.stat().st_size < out.stat().st_size * 0.6
    _, tensors = read_gguf_lora(half)
    assert tensors["blk.0.attn_q.weight.lora_a"].dtype == np.float16
    with pytest.raises(InvalidInputError):
        export_gguf_lora(src, tmp_path / "x.gguf", dtype="q8")


# ----------------------------------------------------------------- synthetic adapters on a tiny config


def _tiny(tmp_path: Path, *, cfg: dict | None = None, extra: dict | None = None, model_type: str = "llama",
          modules: tuple[str, ...] = ("self_attn.q_proj", "self_attn.k_proj", "mlp.down_proj"), r: int = 2) -> tuple[Path, Path]:
    base = tmp_path / "base"
    base.mkdir(exist_ok=True)
    (base / "config.json").write_text(json.dumps({"model_type": model_type, "num_attention_heads": 4, "num_key_value_heads": 2,
                                                  "num_hidden_layers": 2, "hidden_size": 16}))
    rng = np.random.default_rng(0)
    outs = {"self_attn.q_proj": 16, "self_attn.k_proj": 8, "self_attn.v_proj": 8, "self_attn.o_proj": 16, "mlp.down_proj": 16}
    ins = {"mlp.down_proj": 32}
    weights = {}
    for layer in range(2):
        for m in modules:
            key = f"base_model.model.model.layers.{layer}.{m}"
            weights[key + ".lora_A.weight"] = rng.standard_normal((r, ins.get(m, 16))).astype(np.float32)
            weights[key + ".lora_B.weight"] = rng.standard_normal((outs[m], r)).astype(np.float32)
    weights.update(extra or {})
    ad = tmp_path / "adapter"
    ad.mkdir(exist_ok=True)
    save_file(weights, str(ad / "adapter_model.safetensors"))
    (ad / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": r, "lora_alpha": 4, **(cfg or {})}))
    return ad, base


def test_tiny_adapter_from_a_config_folder(tmp_path: Path) -> None:
    ad, base = _tiny(tmp_path)
    rep = export_gguf_lora(ad, tmp_path / "t.gguf", base=base)
    _, t = read_gguf_lora(rep.out)
    src = load_file(str(ad / "adapter_model.safetensors"))
    np.testing.assert_array_equal(t["blk.1.attn_q.weight.lora_b"],
                                  reference_permute(src["base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight"], 4))
    np.testing.assert_array_equal(t["blk.1.attn_k.weight.lora_b"],
                                  reference_permute(src["base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight"], 2))
    np.testing.assert_array_equal(t["blk.0.ffn_down.weight.lora_b"], src["base_model.model.model.layers.0.mlp.down_proj.lora_B.weight"])
    assert set(GGUF_TENSOR_NAMES.values()) >= {n.split(".")[2] for n in t}


@pytest.mark.parametrize(("cfg", "factor"), [({"use_rslora": True}, 2 / np.sqrt(2) / (4 / 2)),
                                             ({"alpha_pattern": {"down_proj": 8}}, None)])
def test_scales_one_alpha_cannot_express_are_folded_into_b(tmp_path: Path, cfg: dict, factor: float | None) -> None:
    ad, base = _tiny(tmp_path, cfg=cfg)
    rep = export_gguf_lora(ad, tmp_path / "t.gguf", base=base)
    assert rep.folded_scale and rep.alpha == 4.0
    _, t = read_gguf_lora(rep.out)
    src = load_file(str(ad / "adapter_model.safetensors"))
    b = src["base_model.model.model.layers.0.mlp.down_proj.lora_B.weight"]
    a = src["base_model.model.model.layers.0.mlp.down_proj.lora_A.weight"]
    peft_scale = 4 / np.sqrt(2) if cfg.get("use_rslora") else 8 / 2
    got = (4.0 / 2) * t["blk.0.ffn_down.weight.lora_b"] @ t["blk.0.ffn_down.weight.lora_a"]
    np.testing.assert_allclose(got, peft_scale * b @ a, rtol=1e-5)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"cfg": {"use_dora": True}}, "DoRA"),
    ({"cfg": {"modules_to_save": ["lm_head"]}}, "modules_to_save"),
    ({"cfg": {"peft_type": "IA3"}}, "only LoRA"),
    ({"model_type": "qwen2"}, "Llama-architecture"),
    ({"extra": {"base_model.model.model.embed_tokens.lora_embedding_A": np.zeros((2, 5), np.float32)}}, "embedding"),
    ({"modules": (), "extra": {"base_model.model.model.layers.0.mlp.fc1.lora_A.weight": np.zeros((2, 16), np.float32),
                               "base_model.model.model.layers.0.mlp.fc1.lora_B.weight": np.zeros((16, 2), np.float32)}},
     "no llama.cpp tensor"),
])
def test_what_llama_cpp_cannot_apply_is_refused(tmp_path: Path, kwargs: dict, match: str) -> None:
    ad, base = _tiny(tmp_path, **kwargs)
    with pytest.raises(AdapterLoadError, match=match):
        export_gguf_lora(ad, tmp_path / "t.gguf", base=base)
    assert not (tmp_path / "t.gguf").exists()


def test_an_adapter_of_another_backbone_is_refused_against_the_gguf(tmp_path: Path) -> None:
    ad, _ = _tiny(tmp_path)  # 16-wide layers: not SmolLM2's 576
    with pytest.raises(AdapterLoadError, match="different base model"):
        export_gguf_lora(ad, tmp_path / "t.gguf")
    with pytest.raises(AdapterLoadError, match=r"no adapter_config\.json"):
        export_gguf_lora(tmp_path, tmp_path / "t.gguf")


def test_cli_export_gguf(tmp_path: Path) -> None:
    from ariadne_integrations.cli import app, register_commands
    from ariadne_integrations.demo import demo_adapter_paths

    register_commands()
    runner = CliRunner()
    out = tmp_path / "date.gguf"
    res = runner.invoke(app, ["export-gguf", str(demo_adapter_paths()["date_iso"]), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["n_tensors"] == 240 and out.is_file()
    res = runner.invoke(app, ["export-gguf", str(tmp_path), "--out", str(tmp_path / "x.gguf")])
    assert res.exit_code == 2 and "error:" in res.output and "adapter_config.json" in res.output
