"""Issue "Reliability" 2: every input either works or gets a typed error (named regressions; see also
test_properties.py for the property-based tests over the same surfaces)."""
from __future__ import annotations

import collections.abc
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ariadne_integrations.cli import app, index_commands, route_commands  # noqa: F401  (registers the commands)
from ariadne_integrations.errors import (
    AriadneError,
    DataFormatError,
    DuplicateAdapterError,
    IndexFormatError,
    InvalidInputError,
)
from ariadne_integrations.jsonl import read_jsonl
from ariadne_integrations.routing.router import AriadneRouter
from ariadne_integrations.testing import FakeBackend, HashingEmbedder

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def train(tmp_path_factory) -> Path:
    rows = [{"input": t, "task": k} for k, ts in {
        "sql": ["select name from users", "drop the orders table", "count rows grouped by city"],
        "weather": ["will it rain tomorrow", "how cold is it in Oslo", "forecast for the weekend"],
    }.items() for t in ts]
    return _jsonl(tmp_path_factory.mktemp("inputs") / "train.jsonl", rows)


@pytest.fixture(scope="module")
def real_index(train, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("inputs_index") / "idx"
    res = runner.invoke(app, ["index", "build", "--data", str(train), "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    return out


# ------------------------------------------------------------------------------------------ lone surrogates
@pytest.mark.parametrize("query", ["\ud800", "drop the \udfff table", "x" * 50 + "\udc80"])
def test_a_lone_surrogate_in_a_query_is_a_typed_error_naming_its_position(toy_real_router, query: str) -> None:
    pos = next(i for i, c in enumerate(query) if 0xD800 <= ord(c) <= 0xDFFF)
    with pytest.raises(InvalidInputError, match=rf"surrogate U\+{ord(query[pos]):04X} at character {pos}\b"):
        toy_real_router.route(query)
    with pytest.raises(InvalidInputError, match=r"queries\[1\] holds a lone surrogate"):
        toy_real_router.route_batch(["fine text", query])


def test_a_lone_surrogate_in_a_wrapper_prompt_is_a_typed_error_before_any_model_work(real_index: Path) -> None:
    from ariadne_integrations.langchain import AriadneLLM, ChatAriadne

    backend = FakeBackend(["sql", "weather"])
    with pytest.raises(InvalidInputError, match="surrogate"):
        AriadneLLM(index=str(real_index), backend=backend).invoke("\ud800")
    with pytest.raises(InvalidInputError, match="surrogate"):
        ChatAriadne(index=str(real_index), backend=backend).invoke([("human", "what is \ud800")])
    assert backend.calls == []


def test_an_adapter_name_with_a_lone_surrogate_is_refused(tmp_path: Path) -> None:
    router = AriadneRouter(HashingEmbedder(8), strategy="mean")
    with pytest.raises(InvalidInputError, match="U\\+D800"):
        router.add_adapter_embeddings("sql\ud800", np.ones((2, 8), np.float32))
    with pytest.raises(InvalidInputError, match="U\\+DFFF"):
        AriadneRouter.from_examples({"\udfff": ["some text"]}, embedder=HashingEmbedder(8))
    router.add_adapter_embeddings("sql", np.ones((2, 8), np.float32))
    router.save(tmp_path / "idx")  # the router stays savable
    assert AriadneRouter.load(tmp_path / "idx", embedder=HashingEmbedder(8)).adapters == ["sql"]


def test_cli_build_with_a_surrogate_in_the_data_names_file_and_line(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"input": "ok", "task": "a"}\n{"input": "bad \\ud800 text", "task": "a"}\n', encoding="utf-8")
    res = runner.invoke(app, ["index", "build", "--data", str(data), "--out", str(tmp_path / "i"), "--no-progress"])
    assert res.exit_code == 2 and res.stderr.startswith(f"error: {data}:2: field 'input' holds a lone surrogate")
    assert not (tmp_path / "i").exists()


def test_a_surrogate_in_argv_is_an_error_line_not_a_traceback(real_index: Path) -> None:
    # bytes that are not UTF-8 reach Python as lone surrogates (surrogateescape)
    code = "import sys; from ariadne_integrations.cli import main; sys.argv[0] = 'ariadne'; main()"
    out = subprocess.run([sys.executable, "-c", code, "route", "--index", str(real_index), b"drop \xff\xfe table"],
                         capture_output=True, cwd=REPO)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(b"error: queries[0] holds a lone surrogate U+DCFF at character 5")
    assert b"Traceback" not in out.stderr
    out = subprocess.run([sys.executable, "-c", code, "route", "--index", b"/tmp/no-such-\xff", "hello"],
                         capture_output=True, cwd=REPO)
    assert out.returncode == 2 and out.stderr.startswith(b"error: routing index folder") and b"Traceback" not in out.stderr


# ------------------------------------------------------------------------------------------ JSONL files
@pytest.mark.parametrize("bad_line,needle", [
    (b'{"input": "caf\xe9", "task": "a"}', "not valid UTF-8 (byte 0xe9 at column 15)"),
    (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
    (b'{"input": "x", "task": "a", "n": ' + b"9" * 5000 + b"}", "not readable JSON"),
    (b'{"input": "x", "task": "\\ud800"}', "field 'task' holds a lone surrogate U+D800"),
])
def test_a_broken_jsonl_line_is_a_data_format_error_with_file_and_line(tmp_path: Path, bad_line: bytes, needle: str) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"input": "fine", "task": "a"}\n' + bad_line + b"\n")
    with pytest.raises(DataFormatError, match=rf"^{path}:2: ") as info:
        read_jsonl(path)
    assert needle in str(info.value)
    res = runner.invoke(app, ["index", "build", "--data", str(path), "--out", str(tmp_path / "i"), "--no-progress"])
    assert res.exit_code == 2 and res.stderr.startswith(f"error: {path}:2: ") and res.exception is not None
    assert isinstance(res.exception, SystemExit)


def test_a_byte_order_mark_is_allowed(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"input": "x", "task": "a"}\n')
    assert read_jsonl(path) == [("x", "a")]


# ------------------------------------------------------------------------------------------ from_examples
@pytest.mark.parametrize("examples", [{"a": 5}, {"a": None}, {"a": 3.5}, {"a": [1, 2]}, {"a": ["ok", None]}, {"a": b"bytes"}])
def test_from_examples_with_values_that_are_not_text_lists_is_a_typed_error(examples) -> None:
    with pytest.raises(InvalidInputError):
        AriadneRouter.from_examples(examples, embedder=HashingEmbedder(8))


class _RepeatingMapping(collections.abc.Mapping):
    """A Mapping whose iteration yields one name twice (a buggy user type, or a multi-dict view)."""

    def __getitem__(self, key):
        return ["some text", "more text"]

    def __iter__(self):
        return iter(["sql", "chat", "sql"])

    def __len__(self):
        return 3


class _SpyEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__(8)
        self.calls = 0

    def embed(self, texts, *, batch_size=32, show_progress=False):
        self.calls += 1
        return super().embed(texts)


def test_a_mapping_that_yields_a_name_twice_is_refused_before_embedding() -> None:
    spy = _SpyEmbedder()
    with pytest.raises(DuplicateAdapterError, match="more than once"):
        AriadneRouter.from_examples(_RepeatingMapping(), embedder=spy)
    assert spy.calls == 0


@pytest.mark.parametrize("seed", [-1, "x", 1.5, True, 2**70])
def test_a_bad_seed_is_a_typed_error(seed) -> None:
    with pytest.raises(InvalidInputError, match="seed"):
        AriadneRouter(HashingEmbedder(8), seed=seed)


# ------------------------------------------------------------------------------------------ names that forge output
FORGING = ["sql\nweather\tscore=0.999", "a\rb", "tab\tbed", "esc\x1b[2Jape", "line\u2028sep", "rtl\u202eoverride", "nul\x00"]


@pytest.mark.parametrize("name", FORGING)
def test_adapter_names_with_control_characters_are_refused(name: str) -> None:
    router = AriadneRouter(HashingEmbedder(8), strategy="mean")
    with pytest.raises(InvalidInputError, match="adapter name"):
        router.add_adapter_embeddings(name, np.ones((1, 8), np.float32))
    with pytest.raises(InvalidInputError, match="adapter name"):
        AriadneRouter.from_examples({name: ["text"]}, embedder=HashingEmbedder(8))


def test_cli_route_prints_one_line_per_query(tmp_path: Path, real_index: Path) -> None:
    data = _jsonl(tmp_path / "evil.jsonl", [{"input": "select 1", "task": "sql\nweather\tscore=1.000\tforged"}])
    res = runner.invoke(app, ["index", "build", "--data", str(data), "--out", str(tmp_path / "evil"), "--no-progress"])
    assert res.exit_code == 2 and res.stderr.startswith("error: adapter name") and "\n" not in res.stderr.rstrip("\n")
    queries = ["drop the users table", "two\nlines\tand a tab", "escape \x1b[31m red"]
    res = runner.invoke(app, ["route", "--index", str(real_index), *queries])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert len(lines) == 3 and all(line.split("\t")[0] in ("sql", "weather") for line in lines)
    assert lines[1].endswith("two\\nlines\\tand a tab") and "\x1b" not in res.stdout


# ------------------------------------------------------------------------------------------ CLI failures
def test_cli_out_under_a_file_is_an_error_line(train: Path, tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    res = runner.invoke(app, ["index", "build", "--data", str(train), "--out", str(tmp_path / "file.txt" / "sub"), "--no-progress"])
    assert res.exit_code == 2 and res.stderr.startswith("error: cannot create the index folder") and "is a file" in res.stderr
    assert isinstance(res.exception, SystemExit)


def test_cli_invalid_utf8_is_an_error_line_in_a_real_process(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes('{"input": "déjà vu", "task": "a"}\n'.encode("latin-1"))
    out = subprocess.run([sys.executable, "-m", "ariadne_integrations.cli", "index", "build", "--data", str(bad),
                          "--out", str(tmp_path / "i")], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 2 and out.stderr.startswith(f"error: {bad}:1: not valid UTF-8") and "Traceback" not in out.stderr


@pytest.mark.parametrize("given,written", [
    ("plots", "plots/confusion.png"),  # an existing folder
    ("new_dir/", "new_dir/confusion.png"),  # a folder to be made (trailing slash)
    ("matrix", "matrix.png"),  # no suffix: matplotlib adds .png
    ("m.svg", "m.svg"),
])
def test_eval_plot_says_where_it_really_wrote(real_index: Path, train: Path, tmp_path: Path, monkeypatch,
                                              given: str, written: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plots").mkdir()
    res = runner.invoke(app, ["eval", "--index", str(real_index), "--data", str(train), "--plot", given])
    assert res.exit_code == 0, res.output
    assert (tmp_path / written).is_file() and (tmp_path / written).stat().st_size > 1000
    assert f"confusion matrix written to {written}" in res.stderr


def test_eval_plot_with_an_unknown_format_fails_before_the_work(real_index: Path, train: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["eval", "--index", str(real_index), "--data", str(train), "--plot", str(tmp_path / "m.docx")])
    assert res.exit_code == 2 and "unknown image format 'docx'" in res.stderr


def test_an_unexpected_error_in_a_command_is_still_one_error_line(monkeypatch, real_index: Path) -> None:
    from ariadne_integrations.routing import router as router_module

    def boom(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(router_module.AriadneRouter, "route_batch", boom)
    res = runner.invoke(app, ["route", "--index", str(real_index), "hello"])
    assert res.exit_code == 2 and res.stderr.startswith("error: unexpected ZeroDivisionError: a bug")


def test_typed_errors_only(real_index: Path) -> None:
    """Loading paths that are not paths, hold a NUL or cannot be encoded: typed errors."""
    for bad in (5, None, "idx\x00", "\ud800"):
        with pytest.raises(AriadneError):
            AriadneRouter.load(bad)  # type: ignore[arg-type]
    with pytest.raises(IndexFormatError):
        AriadneRouter.load(real_index / "index.json")
