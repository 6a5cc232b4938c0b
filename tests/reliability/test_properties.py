"""Property-based tests (hypothesis): every input to the router API, the JSONL reader and the CLI either
works or raises a typed error (an AriadneError; in the CLI: exit code 2 and one ``error:`` line).

Inputs: arbitrary unicode including lone surrogates and control characters, non-string values,
100k-character texts, empty lists, duplicate names. Example counts are set per test (``EXAMPLES``); run
with ``--hypothesis-show-statistics`` to see what each ran.
"""
from __future__ import annotations

import collections.abc
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ariadne_integrations.cli import app, index_commands, route_commands  # noqa: F401  (registers the commands)
from ariadne_integrations.errors import AriadneError, DataFormatError
from ariadne_integrations.jsonl import read_jsonl
from ariadne_integrations.routing.decision import RouteDecision
from ariadne_integrations.routing.router import AriadneRouter
from ariadne_integrations.testing import HashingEmbedder

EXAMPLES = {
    "route": 200,
    "route_batch": 150,
    "from_examples": 150,
    "add_adapter_embeddings": 150,
    "jsonl_records": 300,
    "jsonl_bytes": 300,
    "cli_route": 100,
    "cli_build": 50,
}


def _settings(name: str) -> settings:
    return settings(max_examples=EXAMPLES[name], deadline=None, database=None, derandomize=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large, HealthCheck.large_base_example])


# ------------------------------------------------------------------------------------------ strategies
EDGE = ["\ud800", "\udfff", "a\ud800b", "\udc80\udcff", "\x00", "\n", "\r\n", "\t", "\x1b[31m", "\u2028", "\u202e", "\ufeff",
        " ", "", "\u3000", "\U0010ffff", "🙂", "e\u0301", "__base__", "-", "0", "a" * 300]

any_char = st.characters(exclude_categories=())  # every code point, lone surrogates included
texts = st.one_of(
    st.text(any_char, max_size=40),
    st.sampled_from(EDGE),
    st.text(st.sampled_from("ab \n\t\x00\ud800é"), max_size=20),
    st.builds(lambda unit, n: (unit * n)[:n], st.sampled_from(["a", "word ", "é ", "\ud800", "x\x00", "漢字"]),
              st.integers(90_000, 110_000)),  # ~100k characters
)
non_texts = st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.booleans(), st.binary(max_size=8),
                      st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
                      st.just(np.float32(1.0)), st.just(object()))
values = st.booleans().flatmap(lambda text: texts if text else non_texts)  # half texts (one_of would flatten)
hashable_values = st.one_of(texts, st.none(), st.integers(), st.booleans(), st.binary(max_size=4), st.tuples(st.integers()))


def _typed(fn, *args, **kwargs) -> Any:
    """Call fn; an AriadneError is an accepted outcome (returned), any other exception fails the test."""
    try:
        out = fn(*args, **kwargs)
    except AriadneError as exc:
        event(f"typed error: {type(exc).__name__}")
        return exc
    event("worked")
    return out


# ------------------------------------------------------------------------------------------ the router API
@pytest.fixture(scope="module")
def real_router(real_embedder):
    return AriadneRouter.from_examples(
        {"sql": ["select name from users", "drop the orders table", "count rows by city"],
         "weather": ["will it rain tomorrow", "how cold is it in Oslo", "forecast for the weekend"]},
        embedder=real_embedder)


@_settings("route")
@given(query=values)
def test_route_any_value(real_router, query) -> None:
    """Through the real tokenizer: a decision for an adapter of the index, or a typed error."""
    out = _typed(real_router.route, query)
    if isinstance(out, RouteDecision):
        assert isinstance(query, str) and query.strip()
        assert out.adapter in real_router.adapters and -1.001 <= out.score <= 1.001


@_settings("route_batch")
@given(queries=st.booleans().flatmap(lambda ok: st.lists(texts, min_size=1, max_size=4) if ok else st.one_of(
    st.lists(values, max_size=4), values, st.just([]), st.tuples(texts, texts))))
def test_route_batch_any_list(real_router, queries) -> None:
    out = _typed(real_router.route_batch, queries)
    if not isinstance(out, AriadneError):
        assert len(out) == len(queries) and all(d.adapter in real_router.adapters for d in out)


class _Pairs(collections.abc.Mapping):
    """A Mapping over (name, texts) pairs whose iteration may yield a name twice."""

    def __init__(self, pairs: list[tuple[Any, Any]]) -> None:
        self.pairs = pairs

    def __getitem__(self, key):
        for k, v in reversed(self.pairs):
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self):
        return iter([k for k, _ in self.pairs])

    def __len__(self):
        return len(self.pairs)


example_values = st.one_of(st.lists(texts, max_size=3), values, st.lists(values, max_size=3), st.just([]))
plain_names = st.one_of(st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True),
                        st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Cf", "Zl", "Zp", "Zs")),
                                min_size=1, max_size=12))
plain_texts = st.lists(st.text(st.characters(codec="utf-8"), min_size=1, max_size=30).filter(str.strip), min_size=1, max_size=4)
_valid_maps = st.dictionaries(plain_names, plain_texts, min_size=1, max_size=4)  # builds, saves, loads (any printable unicode)
_any_maps = st.one_of(
    st.dictionaries(hashable_values, example_values, max_size=3),
    st.lists(st.tuples(st.sampled_from(["a", "b", "a\n", "\ud800"]), example_values), max_size=4).map(_Pairs),  # repeats
    values,
)
# half and half (one_of would flatten the branches of _any_maps and draw a valid map rarely)
example_maps = st.booleans().flatmap(lambda valid: _valid_maps if valid else _any_maps)


def _round_trip(router: AriadneRouter, emb: HashingEmbedder) -> None:
    """A router that was built saves, and loads back identical (names, centroids, decisions)."""
    with tempfile.TemporaryDirectory() as tmp:
        router.save(Path(tmp) / "idx")
        loaded = AriadneRouter.load(Path(tmp) / "idx", embedder=emb)
    assert loaded.adapters == router.adapters
    for n in router.adapters:
        assert np.array_equal(loaded.centroids(n), router.centroids(n))
    probe = ["a probe query", "select from weather"]
    assert [d.to_dict() for d in loaded.route_batch(probe)] == [d.to_dict() for d in router.route_batch(probe)]


@_settings("from_examples")
@given(examples=example_maps, strategy=st.sampled_from(["mean", "paper", "kmeans"]))
def test_from_examples_any_mapping_builds_a_router_that_saves_and_loads(examples, strategy: str) -> None:
    emb = HashingEmbedder(16)
    router = _typed(AriadneRouter.from_examples, examples, embedder=emb, strategy=strategy)
    if isinstance(router, AriadneRouter):
        assert isinstance(examples, collections.abc.Mapping) and len(router.adapters) == len(set(examples))
        _round_trip(router, emb)
        event(f"built and round-tripped: {len(router.adapters)} adapters")


@_settings("add_adapter_embeddings")
@given(name=st.booleans().flatmap(lambda ok: plain_names if ok else values), rows=st.sampled_from([1, 2, 3, 0]),
       scale=st.sampled_from([1.0, -1.0, 1e30, 0.0, float("nan")]), dim=st.sampled_from([16, 16, 16, 15]))
def test_add_adapter_embeddings_any_name_and_vectors(name, rows: int, scale: float, dim: int) -> None:
    emb = HashingEmbedder(16)
    router = AriadneRouter(emb, strategy="mean")
    vecs = np.random.default_rng(rows).normal(size=(rows, dim)).astype(np.float32) * np.float32(scale)
    out = _typed(router.add_adapter_embeddings, name, vecs)
    if not isinstance(out, AriadneError):
        assert router.adapters == [name]
        _round_trip(router, emb)


# ------------------------------------------------------------------------------------------ the JSONL reader
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts),
                           lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                           max_leaves=6)
records = st.one_of(
    st.fixed_dictionaries({"input": json_values, "task": json_values}),
    st.fixed_dictionaries({"input": texts, "task": texts}),
    st.dictionaries(st.text(max_size=6), json_values, max_size=3),
    json_values,
)
junk_lines = st.sampled_from([
    "[" * 100_000, "[" * 100_000 + "]" * 100_000, '{"input": ' + "[" * 5000 + "1" + "]" * 5000 + ', "task": "a"}',
    '{"input": "x", "task": "a", "n": ' + "7" * 5000 + "}", '{"input": NaN, "task": "a"}', '{"input": 1e999, "task": "a"}',
    '{"input": "x", "task": "a"', "", "   ", "\ufeff", '{"input": "x", "task": "a"}\r',
])


def _check_read(path: Path) -> None:
    out = _typed(read_jsonl, path)
    if isinstance(out, AriadneError):
        assert isinstance(out, DataFormatError) and str(out).startswith(f"{path}")
        return
    assert out, "an empty result must be an error"
    for text, label in out:
        for s in (text, label):
            assert isinstance(s, str) and s.strip()
            s.encode("utf-8")  # valid unicode: no lone surrogates get through


valid_records = st.fixed_dictionaries({"input": st.text(min_size=1).filter(str.strip), "task": plain_names})
any_lines = st.lists(st.one_of(records.map(lambda r: json.dumps(r, ensure_ascii=True)),
                               records.map(lambda r: json.dumps(r, ensure_ascii=False)), junk_lines), max_size=5)
valid_lines = st.lists(valid_records.map(lambda r: json.dumps(r, ensure_ascii=False)), min_size=1, max_size=5)


@_settings("jsonl_records")
@given(lines=st.booleans().flatmap(lambda ok: valid_lines if ok else any_lines),
       encoding=st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "latin-1", "utf-16"]))
def test_read_jsonl_any_records(lines: list[str], encoding: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.jsonl"
        # utf-8 + surrogatepass writes a lone surrogate as bytes ED A0 80..., which are not valid UTF-8
        path.write_bytes("\n".join(lines).encode(encoding, "surrogatepass" if encoding == "utf-8" else "replace"))
        _check_read(path)


@_settings("jsonl_bytes")
@given(data=st.binary(max_size=300))
def test_read_jsonl_any_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.jsonl"
        path.write_bytes(data)
        _check_read(path)


# ------------------------------------------------------------------------------------------ the CLI
runner = CliRunner()


def _assert_clean(res, args) -> None:
    """Exit 0, or exit 2 with one `error:` line on stderr; never a traceback or another exit code."""
    assert res.exit_code in (0, 2), (args, res.exit_code, res.output, res.exception)
    assert res.exception is None or isinstance(res.exception, SystemExit), (args, repr(res.exception))
    if res.exit_code == 2:
        err = res.stderr
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, (args, err)


KINDS = ("no such data file", "Invalid value", "cannot create", "refusing to write", "not valid UTF-8", "not valid JSON",
         "exists and is not a folder", "no examples", "holds a lone surrogate")


def _kind(stderr: str) -> str:
    return next((k for k in KINDS if k in stderr), "other")


@pytest.fixture(scope="module")
def cli_data(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli_props")
    data = d / "train.jsonl"
    data.write_text("".join(json.dumps({"input": t, "task": k}) + "\n" for k, ts in {
        "sql": ["select name from users", "drop the orders table"], "weather": ["will it rain", "is it cold in Oslo"]}.items()
        for t in ts), encoding="utf-8")
    idx = d / "idx"
    res = runner.invoke(app, ["index", "build", "--data", str(data), "--out", str(idx), "--no-progress"])
    assert res.exit_code == 0, res.output
    return {"dir": d, "data": data, "index": idx}


@_settings("cli_route")
@given(queries=st.lists(texts.filter(lambda t: not t.startswith("-")), min_size=1, max_size=3), as_json=st.booleans())
def test_cli_route_any_queries(cli_data, queries: list[str], as_json: bool) -> None:
    args = ["route", "--index", str(cli_data["index"]), *(["--json"] if as_json else []), "--", *queries]
    res = runner.invoke(app, args)
    _assert_clean(res, args)
    event(f"exit {res.exit_code}")
    if res.exit_code == 0:
        lines = res.stdout.splitlines()
        assert len(lines) == len(queries)  # one line per query, whatever the query holds
        for line, q in zip(lines, queries):
            if as_json:
                assert json.loads(line)["query"] == q
            else:
                assert line.split("\t")[0] in ("sql", "weather")


path_parts = st.one_of(st.text(any_char, min_size=1, max_size=12), st.sampled_from(
    ["file.txt/sub", "file.txt", "idx", "exists_foreign", "a\x00b", "\ud800", "\udcff", "nl\nname", " ", "deep/er/still",
     "idx/snapshots", "idx/index.json"]))


@_settings("cli_build")
@given(out=path_parts, data=st.one_of(st.just("train"), path_parts), overwrite=st.booleans())
def test_cli_build_any_paths(cli_data, out: str, data: str, overwrite: bool) -> None:
    """--out / --data: any text under a scratch folder (a file in the way, NUL, surrogates, a foreign folder...)."""
    assume(out not in (".", "..") and ".." not in out.split("/") and not out.startswith("/"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "file.txt").write_text("a file, not a folder")
        (root / "exists_foreign").mkdir()
        (root / "exists_foreign" / "notes.md").write_text("not an index")
        data_path = str(cli_data["data"]) if data == "train" else os.path.join(tmp, data)
        args = ["index", "build", "--data", data_path, "--out", os.path.join(tmp, out), "--no-progress",
                *(["--overwrite"] if overwrite else [])]
        res = runner.invoke(app, args)
        _assert_clean(res, args)
        event(f"exit {res.exit_code}" + (f": {_kind(res.stderr)}" if res.exit_code else ""))
        if res.exit_code == 0:
            assert AriadneRouter.load(os.path.join(tmp, out)).adapters == ["sql", "weather"]
        assert (root / "file.txt").read_text() == "a file, not a folder"
        if not overwrite:
            assert sorted(p.name for p in (root / "exists_foreign").iterdir()) == ["notes.md"]
