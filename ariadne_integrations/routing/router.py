"""AriadneRouter: pick the adapter whose training inputs a query resembles most, training-free.

Each adapter is a few unit centroids of its training inputs' embeddings (see centroids.py). A query
is embedded once; its cosine to every centroid is one matrix product over the stacked centroid
matrix; each adapter's score is the max over its own centroids (``np.maximum.reduceat`` over the
adapter segments); the decision is the best adapter, or "no adapter" when an optional score
threshold or margin over the runner-up is not met.

Thread safety: the router's state is an immutable snapshot; ``route`` reads one snapshot, and every
mutation builds a new snapshot under a lock and swaps it in one assignment, so readers never see a
half-made change and a failed mutation leaves the router as it was.
"""
from __future__ import annotations

import logging
import math
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ariadne_integrations.errors import (
    DuplicateAdapterError,
    EmbedderMismatchError,
    InvalidInputError,
    UnknownAdapterError,
)
from ariadne_integrations.routing.centroids import DEFAULT_STRATEGY, Strategy, make_strategy
from ariadne_integrations.routing.decision import RouteDecision
from ariadne_integrations.routing.embedders import (
    Embedder,
    check_embedder,
    embedder_identity,
    load_embedder,
    normalize_rows,
    validate_texts,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _State:
    """One immutable snapshot of the index; swapped whole on every change."""

    names: tuple[str, ...]
    per_adapter: tuple[np.ndarray, ...]  # (m_i, d) unit rows each
    n_examples: tuple[int, ...]
    adapter_paths: tuple[str | None, ...]
    matrix: np.ndarray  # (sum m_i, d) stacked centroids
    starts: np.ndarray  # (A,) segment starts for reduceat
    threshold: float | None
    min_margin: float | None

    @staticmethod
    def build(
        names: Sequence[str],
        per_adapter: Sequence[np.ndarray],
        n_examples: Sequence[int],
        adapter_paths: Sequence[str | None],
        threshold: float | None,
        min_margin: float | None,
        dim: int,
    ) -> "_State":
        mats = tuple(per_adapter)
        counts = [m.shape[0] for m in mats]
        matrix = np.ascontiguousarray(np.concatenate(mats, axis=0) if mats else np.zeros((0, dim), np.float32))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.intp) if counts else np.zeros(0, np.intp)
        matrix.setflags(write=False)
        for m in mats:
            m.setflags(write=False)
        return _State(tuple(names), mats, tuple(int(n) for n in n_examples), tuple(adapter_paths), matrix, starts, threshold, min_margin)


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"adapter names must be non-empty strings, got {name!r}")
    return name


def _check_threshold(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise InvalidInputError(f"{what} must be a finite number or None, got {value!r}")
    return float(value)


def _check_query(query: Any) -> str:
    if not isinstance(query, str):
        raise InvalidInputError(f"a query must be a string, got {type(query).__name__}")
    if not query.strip():
        raise InvalidInputError("the query is empty or whitespace only")
    return query


class AriadneRouter:
    """Routes queries to adapters by nearest training-input centroids (the ARIADNE method).

    Build it with :meth:`from_examples` or :meth:`from_jsonl`, route with :meth:`route` /
    :meth:`route_batch`, change it with :meth:`add_adapter` / :meth:`remove_adapter` (only that
    adapter's centroids are computed), and persist it with :meth:`save` / :meth:`load`.
    """

    def __init__(
        self,
        embedder: Embedder | str | None = None,
        *,
        strategy: str | None = DEFAULT_STRATEGY,
        centroids: int | None = None,
        threshold: float | None = None,
        min_margin: float | None = None,
        seed: int = 0,
    ) -> None:
        self._embedder: Embedder = load_embedder(embedder)
        self._strategy: Strategy = make_strategy(strategy, centroids, seed)
        self._lock = threading.RLock()
        self._identity: dict[str, Any] | None = None  # filled lazily (needs the model for the dimension)
        self._state = _State.build([], [], [], [], _check_threshold(threshold, "threshold"),
                                   _check_threshold(min_margin, "min_margin"), 0)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_examples(
        cls,
        examples: Mapping[str, Sequence[str]],
        *,
        embedder: Embedder | str | None = None,
        strategy: str | None = DEFAULT_STRATEGY,
        centroids: int | None = None,
        threshold: float | None = None,
        min_margin: float | None = None,
        adapter_paths: Mapping[str, str | os.PathLike[str]] | None = None,
        show_progress: bool = False,
        seed: int = 0,
        batch_size: int = 32,
    ) -> "AriadneRouter":
        """Build a router from ``{adapter_name: [training inputs]}``; all texts are embedded in one pass."""
        if not isinstance(examples, Mapping):
            raise InvalidInputError(f"examples must be a mapping {{adapter name: [texts]}}, got {type(examples).__name__}")
        if not examples:
            raise InvalidInputError("examples is empty: give at least one adapter with example texts")
        names = [_check_name(n) for n in examples]
        groups: list[list[str]] = []
        for name in names:
            texts = examples[name]
            if isinstance(texts, str):
                raise InvalidInputError(f"examples for adapter {name!r} must be a list of strings, not one string")
            texts = list(texts) if texts is not None else []  # once: a generator can be read only once
            if not texts:
                raise InvalidInputError(f"adapter {name!r} has no examples; each adapter needs at least one input text")
            groups.append(validate_texts(texts, what=f"examples[{name!r}]"))
        paths = dict(adapter_paths or {})
        unknown = set(paths) - set(names)
        if unknown:
            raise UnknownAdapterError(f"adapter_paths names adapters that have no examples: {sorted(unknown)}")
        router = cls(embedder, strategy=strategy, centroids=centroids, threshold=threshold, min_margin=min_margin, seed=seed)
        flat = [t for g in groups for t in g]
        vecs = router._embedder.embed(flat, batch_size=batch_size, show_progress=show_progress)
        mats, start = [], 0
        iterator: Any = zip(names, groups)
        if show_progress and len(names) > 1:
            from tqdm.auto import tqdm

            iterator = tqdm(list(iterator), desc="centroids", unit="adapter")
        for name, g in iterator:
            mats.append(router._strategy.fit(vecs[start : start + len(g)]))
            start += len(g)
        st = router._state
        router._state = _State.build(
            names, mats, [len(g) for g in groups],
            [str(Path(paths[n]).resolve()) if n in paths else None for n in names],
            st.threshold, st.min_margin, vecs.shape[1],
        )
        return router

    @classmethod
    def from_jsonl(
        cls,
        paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        text_field: str = "input",
        label_field: str = "task",
        **kwargs: Any,
    ) -> "AriadneRouter":
        """Build from JSONL files of ``{text_field: ..., label_field: adapter}`` lines (see from_examples)."""
        from ariadne_integrations.routing.data import read_examples

        return cls.from_examples(read_examples(paths, text_field=text_field, label_field=label_field), **kwargs)

    @classmethod
    def from_adapters(
        cls,
        folders: Sequence[str | os.PathLike[str]] | Mapping[str, str | os.PathLike[str]],
        **kwargs: Any,
    ) -> "AriadneRouter":
        """Build from adapter folders written by ``ariadne train`` (their ``ariadne_inputs.jsonl``).

        ``folders`` is a list of folders (names from ``ariadne_task.json``, else the folder name) or
        ``{name: folder}``. Each folder is recorded as that adapter's path. Other keyword arguments
        are those of :meth:`from_examples`.
        """
        from ariadne_integrations.routing.data import read_adapter_dir

        if isinstance(folders, (str, os.PathLike)):
            folders = [folders]
        items = list(folders.items()) if isinstance(folders, Mapping) else [(None, f) for f in folders]
        if not items:
            raise InvalidInputError("no adapter folders given")
        examples: dict[str, list[str]] = {}
        paths: dict[str, str] = {}
        for given, folder in items:
            name, path, texts = read_adapter_dir(folder, given)
            if name in examples:
                raise DuplicateAdapterError(f"two adapter folders are named {name!r}: {paths[name]} and {path}; pass {{name: folder}}")
            examples[name] = texts
            paths[name] = str(path)
        extra_paths = dict(kwargs.pop("adapter_paths", None) or {})
        return cls.from_examples(examples, adapter_paths={**paths, **extra_paths}, **kwargs)

    # ------------------------------------------------------------------ properties
    @property
    def embedder(self) -> Embedder:
        return self._embedder

    @property
    def strategy(self) -> Strategy:
        return self._strategy

    @property
    def adapters(self) -> list[str]:
        return list(self._state.names)

    @property
    def threshold(self) -> float | None:
        return self._state.threshold

    @property
    def min_margin(self) -> float | None:
        return self._state.min_margin

    def __len__(self) -> int:
        return len(self._state.names)

    def __contains__(self, name: object) -> bool:
        return name in self._state.names

    def __repr__(self) -> str:
        st = self._state
        return (f"AriadneRouter(adapters={len(st.names)}, centroids={st.matrix.shape[0]}, strategy={self._strategy.name!r}, "
                f"embedder={self._embedder.name!r}, threshold={st.threshold}, min_margin={st.min_margin})")

    def adapter_path(self, name: str) -> str | None:
        """The adapter folder recorded for ``name`` (None when none was given)."""
        st = self._state
        try:
            return st.adapter_paths[st.names.index(name)]
        except ValueError:
            raise UnknownAdapterError(f"no adapter {name!r} in the index; known: {list(st.names)}") from None

    def centroids(self, name: str) -> np.ndarray:
        """A read-only view of ``name``'s centroids (m, d)."""
        st = self._state
        try:
            return st.per_adapter[st.names.index(name)]
        except ValueError:
            raise UnknownAdapterError(f"no adapter {name!r} in the index; known: {list(st.names)}") from None

    def n_examples(self, name: str) -> int:
        st = self._state
        try:
            return st.n_examples[st.names.index(name)]
        except ValueError:
            raise UnknownAdapterError(f"no adapter {name!r} in the index; known: {list(st.names)}") from None

    def embedder_identity(self) -> dict[str, Any]:
        if self._identity is None:
            self._identity = embedder_identity(self._embedder)
        return self._identity

    # ------------------------------------------------------------------ routing
    def embed(self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        """Embed texts with the router's embedder (unit-norm float32 rows)."""
        return self._embedder.embed(texts, batch_size=batch_size, show_progress=show_progress)

    def route(self, query: str) -> RouteDecision:
        """Route one query: the best adapter, or abstain below the thresholds."""
        return self.route_batch([_check_query(query)])[0]

    def route_batch(self, queries: Sequence[str], *, batch_size: int = 32) -> list[RouteDecision]:
        """Route many queries with one embedding call and one matrix product."""
        if isinstance(queries, str):
            raise InvalidInputError("route_batch takes a list of queries; use route() for a single string")
        items = validate_texts(queries, what="queries")
        st = self._require_adapters()
        vecs = self._embedder.embed(items, batch_size=batch_size)
        return self._decide(st, self._check_vectors(vecs, len(items)))

    def route_embeddings(self, vectors: np.ndarray) -> list[RouteDecision]:
        """Route precomputed query embeddings (n, d) made by this router's embedder."""
        st = self._require_adapters()
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim == 1:
            v = v[None, :]
        return self._decide(st, self._check_vectors(normalize_rows(v), None))

    def scores(self, queries: Sequence[str] | np.ndarray) -> np.ndarray:
        """Per-adapter scores (n, A) in :attr:`adapters` order: texts or precomputed embeddings."""
        st = self._require_adapters()
        if isinstance(queries, np.ndarray):
            v = queries[None, :] if queries.ndim == 1 else queries
            vecs = self._check_vectors(normalize_rows(v), None)
        else:
            items = validate_texts(queries, what="queries")
            vecs = self._check_vectors(self._embedder.embed(items), len(items))
        return self._adapter_scores(st, vecs)

    def _require_adapters(self) -> _State:
        st = self._state
        if not st.names:
            raise InvalidInputError("the router has no adapters yet; add one with add_adapter() or build with from_examples()")
        return st

    def _check_vectors(self, vecs: np.ndarray, n: int | None) -> np.ndarray:
        d = self._state.matrix.shape[1]
        if vecs.ndim != 2 or vecs.shape[1] != d or (n is not None and vecs.shape[0] != n):
            raise EmbedderMismatchError(f"query embeddings have shape {vecs.shape}, the index expects (n, {d})")
        if not np.all(np.isfinite(vecs)):
            raise InvalidInputError("query embeddings contain NaN or infinite values")
        return vecs

    @staticmethod
    def _adapter_scores(st: _State, vecs: np.ndarray) -> np.ndarray:
        sims = vecs @ st.matrix.T  # (n, C): cosine to every centroid
        return np.maximum.reduceat(sims, st.starts, axis=1)  # (n, A): best centroid per adapter

    def _decide(self, st: _State, vecs: np.ndarray) -> list[RouteDecision]:
        scores = self._adapter_scores(st, vecs)
        n_ad = scores.shape[1]
        best_idx = scores.argmax(axis=1)
        rows = np.arange(scores.shape[0])
        best = scores[rows, best_idx]
        if n_ad > 1:
            masked = scores.copy()
            masked[rows, best_idx] = -np.inf
            second_idx = masked.argmax(axis=1)
            margin = best - scores[rows, second_idx]
        else:
            second_idx = None
            margin = best.copy()
        abstain = np.zeros(len(best), dtype=bool)
        if st.threshold is not None:
            abstain |= best < st.threshold
        if st.min_margin is not None:
            abstain |= margin < st.min_margin
        names = st.names
        out = []
        for i in range(scores.shape[0]):
            b = names[int(best_idx[i])]
            out.append(
                RouteDecision(
                    adapter=None if abstain[i] else b,
                    score=float(best[i]),
                    margin=float(margin[i]),
                    scores=dict(zip(names, scores[i].tolist())),
                    abstained=bool(abstain[i]),
                    best=b,
                    runner_up=None if second_idx is None else names[int(second_idx[i])],
                )
            )
        return out

    # ------------------------------------------------------------------ mutation
    def add_adapter(
        self,
        name: str,
        texts: Sequence[str],
        *,
        adapter_path: str | os.PathLike[str] | None = None,
        replace: bool = False,
        show_progress: bool = False,
    ) -> None:
        """Add (or with ``replace=True`` rebuild) one adapter from its inputs; no other adapter changes."""
        _check_name(name)
        if isinstance(texts, str):
            raise InvalidInputError(f"texts for adapter {name!r} must be a list of strings, not one string")
        items = validate_texts(texts, what=f"texts for adapter {name!r}")
        if not replace and name in self._state.names:  # cheap early check before embedding
            raise DuplicateAdapterError(f"adapter {name!r} is already in the index; pass replace=True to rebuild it")
        vecs = self._embedder.embed(items, show_progress=show_progress)
        self._put(name, vecs, len(items), adapter_path, replace)

    def add_adapter_embeddings(
        self,
        name: str,
        vectors: np.ndarray,
        *,
        adapter_path: str | os.PathLike[str] | None = None,
        replace: bool = False,
    ) -> None:
        """Add an adapter from precomputed input embeddings (n, d) made by this router's embedder."""
        _check_name(name)
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim != 2 or v.shape[0] == 0:
            raise InvalidInputError(f"vectors for adapter {name!r} must be a non-empty (n, d) array, got shape {v.shape}")
        if not np.all(np.isfinite(v)):
            raise InvalidInputError(f"vectors for adapter {name!r} contain NaN or infinite values")
        d = self._dimension()
        if v.shape[1] != d:
            raise EmbedderMismatchError(f"vectors for adapter {name!r} are {v.shape[1]}-d but the embedder makes {d}-d vectors")
        self._put(name, normalize_rows(v), v.shape[0], adapter_path, replace)

    def _dimension(self) -> int:
        st = self._state
        return st.matrix.shape[1] if st.names else int(self._embedder.dimension)

    def _put(self, name: str, vecs: np.ndarray, n: int, adapter_path: Any, replace_existing: bool) -> None:
        cents = self._strategy.fit(vecs)
        path = None if adapter_path is None else str(Path(adapter_path).resolve())
        with self._lock:
            st = self._state
            if st.names and cents.shape[1] != st.matrix.shape[1]:
                raise EmbedderMismatchError(f"new centroids are {cents.shape[1]}-d, the index holds {st.matrix.shape[1]}-d")
            names, mats, counts, paths = list(st.names), list(st.per_adapter), list(st.n_examples), list(st.adapter_paths)
            if name in names:
                if not replace_existing:
                    raise DuplicateAdapterError(f"adapter {name!r} is already in the index; pass replace=True to rebuild it")
                i = names.index(name)
                mats[i], counts[i], paths[i] = cents, n, path
            else:
                names.append(name)
                mats.append(cents)
                counts.append(n)
                paths.append(path)
            self._state = _State.build(names, mats, counts, paths, st.threshold, st.min_margin, cents.shape[1])
        log.info("added adapter %s (%d examples, %d centroids)", name, n, cents.shape[0])

    def remove_adapter(self, name: str) -> None:
        """Remove one adapter; the others keep their centroids bit for bit."""
        with self._lock:
            st = self._state
            if name not in st.names:
                raise UnknownAdapterError(f"no adapter {name!r} in the index; known: {list(st.names)}")
            i = st.names.index(name)
            keep = [j for j in range(len(st.names)) if j != i]
            self._state = _State.build(
                [st.names[j] for j in keep], [st.per_adapter[j] for j in keep], [st.n_examples[j] for j in keep],
                [st.adapter_paths[j] for j in keep], st.threshold, st.min_margin, st.matrix.shape[1],
            )

    def set_adapter_path(self, name: str, adapter_path: str | os.PathLike[str] | None) -> None:
        """Record (or clear) the adapter folder for ``name``."""
        with self._lock:
            st = self._state
            if name not in st.names:
                raise UnknownAdapterError(f"no adapter {name!r} in the index; known: {list(st.names)}")
            paths = list(st.adapter_paths)
            paths[st.names.index(name)] = None if adapter_path is None else str(Path(adapter_path).resolve())
            self._state = replace(st, adapter_paths=tuple(paths))

    def set_thresholds(self, threshold: float | None = None, min_margin: float | None = None) -> None:
        """Set the abstention rule: abstain when score < threshold or margin < min_margin (None = off)."""
        t = _check_threshold(threshold, "threshold")
        m = _check_threshold(min_margin, "min_margin")
        with self._lock:
            self._state = replace(self._state, threshold=t, min_margin=m)

    # ------------------------------------------------------------------ calibration
    def calibrate(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        oos_texts: Sequence[str] | None = None,
        *,
        by: str = "score",
        target_oos_rejection: float | None = None,
        target_in_scope_accuracy: float | None = None,
        max_accuracy_drop: float = 0.01,
        apply: bool = True,
    ) -> dict[str, Any]:
        """Choose an abstention threshold from held-out data; see :func:`calibration.calibrate_threshold`."""
        from ariadne_integrations.routing.calibration import calibrate_threshold

        items = validate_texts(texts, what="texts")
        labs = list(labels)
        if len(labs) != len(items):
            raise InvalidInputError(f"texts and labels differ in length ({len(items)} vs {len(labs)})")
        in_scope = [i for i, lab in enumerate(labs) if lab in self._state.names]
        oos_rows = [i for i, lab in enumerate(labs) if lab not in self._state.names]
        extra_oos = validate_texts(oos_texts, what="oos_texts") if oos_texts is not None else []
        if not in_scope:
            raise InvalidInputError("no calibration label is an adapter in the index; labels must name adapters")
        all_texts = items + extra_oos
        st = self._require_adapters()
        vecs = self._check_vectors(self._embedder.embed(all_texts), len(all_texts))
        decisions = self._decide(replace(st, threshold=None, min_margin=None), vecs)
        ins = [decisions[i] for i in in_scope]
        oos = [decisions[i] for i in oos_rows] + decisions[len(items):]
        result = calibrate_threshold(
            [d.score if by == "score" else d.margin for d in ins],
            [d.best == labs[i] for d, i in zip(ins, in_scope)],
            [d.score if by == "score" else d.margin for d in oos],
            by=by,
            target_oos_rejection=target_oos_rejection,
            target_in_scope_accuracy=target_in_scope_accuracy,
            max_accuracy_drop=max_accuracy_drop,
        )
        if apply:
            if by == "score":
                self.set_thresholds(threshold=result["threshold"], min_margin=None)
            else:
                self.set_thresholds(threshold=None, min_margin=result["min_margin"])
        return result

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write the index to ``folder`` atomically (safetensors + index.json)."""
        from ariadne_integrations.routing.persistence import IndexPayload, save_index

        st = self._require_adapters()
        identity = self.embedder_identity()
        if identity["dimension"] != st.matrix.shape[1]:
            raise EmbedderMismatchError(f"the embedder makes {identity['dimension']}-d vectors but the index holds {st.matrix.shape[1]}-d")
        payload = IndexPayload(
            embedder=identity,
            strategy={"name": self._strategy.name, **self._strategy.params()},
            thresholds={"threshold": st.threshold, "min_margin": st.min_margin},
            names=list(st.names),
            centroids=list(st.per_adapter),
            n_examples=list(st.n_examples),
            adapter_paths=list(st.adapter_paths),
        )
        return save_index(folder, payload)

    @classmethod
    def load(cls, folder: str | os.PathLike[str], embedder: Embedder | str | None = None) -> "AriadneRouter":
        """Load an index; the embedder is re-created from the stored identity unless given.

        A given (or re-created) embedder whose dimension or fingerprint differs from the stored one
        raises EmbedderMismatchError.
        """
        from ariadne_integrations.routing.persistence import load_index

        payload = load_index(folder)
        ident = payload.embedder
        if embedder is None:
            spec = ident.get("spec") or ident["name"]
            try:
                embedder = load_embedder(spec)
            except InvalidInputError as exc:
                raise EmbedderMismatchError(
                    f"index {folder} was built with embedder {spec!r}, which cannot be created here ({exc}); pass embedder=..."
                ) from exc
        emb = load_embedder(embedder)
        check_embedder(emb, ident, where=f"index {folder}")
        strat = payload.strategy
        th = payload.thresholds
        try:
            router = cls(emb, strategy=strat["name"], centroids=strat.get("centroids"), seed=int(strat.get("seed", 0)),
                         threshold=th.get("threshold"), min_margin=th.get("min_margin"))
        except InvalidInputError as exc:
            from ariadne_integrations.errors import IndexFormatError

            raise IndexFormatError(f"index {folder} has invalid settings: {exc}") from exc
        router._identity = dict(ident)
        router._state = _State.build(payload.names, payload.centroids, payload.n_examples, payload.adapter_paths,
                                     router._state.threshold, router._state.min_margin, int(ident["dimension"]))
        return router
