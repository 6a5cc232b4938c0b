"""AriadneRouter with the real embedder: routing, batch = single, incremental changes, abstention, bad input."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ariadne_integrations.errors import (
    DuplicateAdapterError,
    EmbedderMismatchError,
    InvalidInputError,
    UnknownAdapterError,
)
from ariadne_integrations.routing.router import AriadneRouter

QUERIES = [
    "the plot was dull and the actors were wooden",
    "sum the amount column grouped by customer",
    "is it going to snow in Oslo next week",
    "great soundtrack, I enjoyed every minute",
    "select the ten most recent orders",
]
EXPECTED = ["sentiment", "sql", "weather", "sentiment", "sql"]


def test_routes_real_queries_to_the_right_adapter(toy_router) -> None:
    decisions = toy_router.route_batch(QUERIES)
    assert [d.adapter for d in decisions] == EXPECTED
    for d in decisions:
        assert d.best == d.adapter and not d.abstained
        assert set(d.scores) == {"sentiment", "sql", "weather"}
        assert d.score == max(d.scores.values())
        ranked = d.ranked()
        assert d.runner_up == ranked[1][0]
        assert d.margin == pytest.approx(ranked[0][1] - ranked[1][1])


def test_route_batch_embeds_once(embedder, toy_router) -> None:
    before = embedder.calls
    toy_router.route_batch(QUERIES)
    assert embedder.calls == before + 1


def test_route_equals_route_batch(toy_router) -> None:
    batch = toy_router.route_batch(QUERIES)
    for q, d in zip(QUERIES, batch):
        single = toy_router.route(q)
        assert single.adapter == d.adapter
        assert single.scores == pytest.approx(d.scores, abs=1e-5)


def test_single_adapter_margin_equals_score(embedder, toy_examples) -> None:
    r = AriadneRouter.from_examples({"only": toy_examples["sql"]}, embedder=embedder)
    d = r.route("count rows in a table")
    assert d.adapter == "only" and d.runner_up is None and d.margin == d.score


def test_add_and_remove_touch_only_that_adapter(embedder, toy_examples) -> None:
    r = AriadneRouter.from_examples({k: toy_examples[k] for k in ("sentiment", "sql")}, embedder=embedder)
    before = {n: r.centroids(n).copy() for n in r.adapters}
    r.add_adapter("weather", toy_examples["weather"])
    assert r.adapters == ["sentiment", "sql", "weather"]
    for n, c in before.items():
        assert np.array_equal(r.centroids(n), c)
    assert r.route("rain expected in London tonight?").adapter == "weather"
    r.remove_adapter("sentiment")
    assert r.adapters == ["sql", "weather"]
    assert np.array_equal(r.centroids("sql"), before["sql"])
    with pytest.raises(UnknownAdapterError, match="sentiment"):
        r.remove_adapter("sentiment")
    with pytest.raises(UnknownAdapterError):
        r.centroids("sentiment")


def test_replace_and_duplicate(embedder, toy_examples) -> None:
    r = AriadneRouter.from_examples({"sql": toy_examples["sql"]}, embedder=embedder)
    with pytest.raises(DuplicateAdapterError, match="replace=True"):
        r.add_adapter("sql", toy_examples["weather"])
    old = r.centroids("sql").copy()
    r.add_adapter("sql", toy_examples["weather"], replace=True)
    assert not np.array_equal(r.centroids("sql"), old) and r.n_examples("sql") == 6


def test_failed_add_leaves_router_unchanged(embedder, toy_examples) -> None:
    r = AriadneRouter.from_examples(toy_examples, embedder=embedder)
    snap = (r.adapters, [r.centroids(n).copy() for n in r.adapters])
    for bad in ([], ["fine", ""], ["fine", None], "a string"):
        with pytest.raises(InvalidInputError):
            r.add_adapter("new", bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        r.add_adapter("", ["text"])
    with pytest.raises(EmbedderMismatchError):
        r.add_adapter_embeddings("new", np.ones((3, 17), np.float32))
    with pytest.raises(InvalidInputError):
        r.add_adapter_embeddings("new", np.ones((0, 384), np.float32))
    assert r.adapters == snap[0]
    assert all(np.array_equal(r.centroids(n), c) for n, c in zip(snap[0], snap[1]))


def test_precomputed_embeddings(embedder, toy_examples) -> None:
    r = AriadneRouter.from_examples({"sql": toy_examples["sql"]}, embedder=embedder)
    r.add_adapter_embeddings("weather", embedder.embed(toy_examples["weather"]))
    q = embedder.embed(["will it be sunny on Sunday"])
    assert r.route_embeddings(q)[0].adapter == "weather"
    with pytest.raises(EmbedderMismatchError):
        r.route_embeddings(np.ones((1, 10), np.float32))


@pytest.mark.parametrize("bad", ["", "   ", None, 3, ["a list"]])
def test_bad_queries(toy_router, bad) -> None:
    with pytest.raises(InvalidInputError):
        toy_router.route(bad)


def test_bad_batches_and_examples(embedder, toy_router) -> None:
    with pytest.raises(InvalidInputError):
        toy_router.route_batch([])
    with pytest.raises(InvalidInputError, match=r"queries\[1\]"):
        toy_router.route_batch(["fine", " "])
    with pytest.raises(InvalidInputError):
        toy_router.route_batch("one string")
    with pytest.raises(InvalidInputError, match="no examples"):
        AriadneRouter.from_examples({"a": ["x"], "b": []}, embedder=embedder)
    with pytest.raises(InvalidInputError):
        AriadneRouter.from_examples({}, embedder=embedder)
    with pytest.raises(InvalidInputError):
        AriadneRouter.from_examples({"": ["x"]}, embedder=embedder)
    with pytest.raises(InvalidInputError, match="no adapters"):
        AriadneRouter(embedder).route("anything")


def test_thresholds_abstain_but_keep_best(toy_router) -> None:
    r = toy_router
    try:
        r.set_thresholds(threshold=0.99)
        d = r.route("select the ten most recent orders")
        assert d.abstained and d.adapter is None and d.best == "sql"
        r.set_thresholds(min_margin=1.5)
        assert r.route("select the ten most recent orders").abstained
        r.set_thresholds(threshold=-1.0, min_margin=0.0)
        assert r.route("select the ten most recent orders").adapter == "sql"
        with pytest.raises(InvalidInputError):
            r.set_thresholds(threshold=float("nan"))
    finally:
        r.set_thresholds(None, None)


def test_concurrent_reads_match_sequential(toy_router) -> None:
    expected = [d.adapter for d in toy_router.route_batch(QUERIES)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda q: toy_router.route(q).adapter, QUERIES * 4))
    assert got == expected * 4


def test_reads_during_mutation_see_whole_states(embedder, toy_examples) -> None:
    r = AriadneRouter.from_examples(toy_examples, embedder=embedder)
    qv = embedder.embed(QUERIES)
    extra = embedder.embed(["tell me a joke", "sing me a song"])
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                for d in r.route_embeddings(qv):
                    assert set(d.scores) in ({"sentiment", "sql", "weather"}, {"sentiment", "sql", "weather", "fun"})
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
                return

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for _ in range(30):
        r.add_adapter_embeddings("fun", extra)
        r.remove_adapter("fun")
    stop.set()
    for t in threads:
        t.join()
    assert not errors


# ---------------------------------------------------------------- property tests (synthetic vectors)
def _synthetic_router(n_adapters: int, seed: int) -> AriadneRouter:
    class _Fixed:
        name, dimension, fingerprint = "synthetic", 8, "synthetic-fp"

        def embed(self, texts, *, batch_size=32, show_progress=False):  # never called: vectors are given
            raise AssertionError("should not embed")

    rng = np.random.default_rng(seed)
    r = AriadneRouter(_Fixed(), strategy="kmeans")
    for i in range(n_adapters):
        r.add_adapter_embeddings(f"a{i}", rng.normal(size=(int(rng.integers(1, 20)), 8)).astype(np.float32))
    return r


@settings(max_examples=30, deadline=None)
@given(n_adapters=st.integers(1, 6), n_queries=st.integers(1, 12), seed=st.integers(0, 10_000))
def test_batch_equals_single_and_order_invariance(n_adapters: int, n_queries: int, seed: int) -> None:
    r = _synthetic_router(n_adapters, seed)
    q = np.random.default_rng(seed + 1).normal(size=(n_queries, 8)).astype(np.float32)
    batch = r.route_embeddings(q)
    perm = np.random.default_rng(seed + 2).permutation(n_queries)
    permuted = r.route_embeddings(q[perm])
    for i in range(n_queries):
        single = r.route_embeddings(q[i])[0]
        assert single.best == batch[i].best
        assert single.scores == pytest.approx(batch[i].scores, abs=1e-5)
        assert permuted[list(perm).index(i)].scores == pytest.approx(batch[i].scores, abs=1e-5)
        # the score of an adapter is its best centroid's cosine
        for name in r.adapters:
            c = r.centroids(name)
            qn = q[i] / np.linalg.norm(q[i])
            assert batch[i].scores[name] == pytest.approx(float((c @ qn).max()), abs=1e-5)


def test_examples_may_be_generators(embedder, toy_examples) -> None:
    r = AriadneRouter.from_examples({k: (t for t in v) for k, v in toy_examples.items()}, embedder=embedder)
    assert [r.n_examples(n) for n in r.adapters] == [6, 6, 6]


def test_from_jsonl(tmp_path, embedder, toy_examples) -> None:
    import json

    p = tmp_path / "train.jsonl"
    p.write_text("".join(json.dumps({"text": t, "label": k}) + "\n" for k, v in toy_examples.items() for t in v))
    r = AriadneRouter.from_jsonl(p, text_field="text", label_field="label", embedder=embedder, strategy="paper",
                                 adapter_paths={"sql": str(tmp_path / "sql_adapter")})
    assert r.adapters == ["sentiment", "sql", "weather"] and r.strategy.name == "paper"
    assert r.adapter_path("sql") == str((tmp_path / "sql_adapter").resolve()) and r.adapter_path("weather") is None
    assert r.route(QUERIES[2]).adapter == "weather"
    with pytest.raises(UnknownAdapterError):
        AriadneRouter.from_jsonl(p, text_field="text", label_field="label", embedder=embedder, adapter_paths={"nope": "x"})


def test_from_adapters_reads_trained_adapter_folders(tmp_path, embedder, toy_examples) -> None:
    import json

    from ariadne_integrations.errors import DataFormatError

    folders = []
    for task, texts in toy_examples.items():
        d = tmp_path / f"dir_{task}"
        d.mkdir()
        (d / "ariadne_task.json").write_text(json.dumps({"task": task}))
        (d / "ariadne_inputs.jsonl").write_text("".join(json.dumps({"input": t}) + "\n" for t in texts))
        folders.append(d)
    r = AriadneRouter.from_adapters(folders, embedder=embedder)
    assert r.adapters == ["sentiment", "sql", "weather"]
    assert r.adapter_path("sql") == str(folders[1].resolve())
    assert r.route(QUERIES[1]).adapter == "sql"
    renamed = AriadneRouter.from_adapters({"db": folders[1], "sky": folders[2]}, embedder=embedder)
    assert renamed.adapters == ["db", "sky"]
    with pytest.raises(DuplicateAdapterError):
        AriadneRouter.from_adapters([folders[0], folders[0]], embedder=embedder)
    (folders[2] / "ariadne_inputs.jsonl").unlink()
    with pytest.raises(DataFormatError, match=r"ariadne_inputs\.jsonl"):
        AriadneRouter.from_adapters(folders, embedder=embedder)
    with pytest.raises(DataFormatError, match="does not exist"):
        AriadneRouter.from_adapters([tmp_path / "missing"], embedder=embedder)
