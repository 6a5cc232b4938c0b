"""AriadneRouter: pick the adapter whose training inputs a query resembles most, training-free.

Each adapter is a few unit centroids of its training inputs' embeddings (centroids.py). The router
ties the parts together and keeps the public API: the embedder makes query vectors, the
:class:`~ariadne_integrations.routing.centroid_index.CentroidIndex` scores them (max cosine over each
adapter's centroids), :func:`~ariadne_integrations.routing.decision.decide` turns scores into
decisions (best adapter, or "no adapter" below the score threshold or margin), calibration.py picks
the threshold and persistence.py reads and writes index folders.

Thread safety: the index is an immutable value and the abstention rule an immutable tuple; a reader takes
each reference once per call, and every mutation derives a new value under a lock and swaps it in one
assignment, so readers never see a half-made change and a failed mutation leaves the router as it was.
"""
from __future__ import annotations

import logging
import math
import os
import threading
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import numpy as np

from ariadne_integrations.errors import (
    DuplicateAdapterError,
    EmbedderMismatchError,
    InvalidInputError,
    UnknownAdapterError,
)
from ariadne_integrations.routing.centroid_index import CentroidIndex, check_adapter_name
from ariadne_integrations.routing.centroids import DEFAULT_STRATEGY, Strategy, make_strategy
from ariadne_integrations.routing.decision import RouteDecision, decide, decide_top
from ariadne_integrations.routing.embedders import (
    Embedder,
    check_embedder,
    check_text,
    embedder_identity,
    load_embedder,
    normalize_rows,
    validate_texts,
)

log = logging.getLogger(__name__)


def _check_name(name: Any) -> str:
    """A usable adapter name (see :func:`~ariadne_integrations.routing.centroid_index.check_adapter_name`)."""
    return check_adapter_name(name)


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
    return check_text(query, "the query")


def _check_adapter_thresholds(value: Any) -> Mapping[str, float] | None:
    """A read-only {adapter: finite threshold} copy, or None for none (an empty mapping is none)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"adapter_thresholds must be a mapping of adapter name to threshold, got {type(value).__name__}")
    out: dict[str, float] = {}
    for name, t in value.items():
        checked = _check_threshold(t, f"the threshold of adapter {name!r}")
        if checked is None:
            raise InvalidInputError(f"the threshold of adapter {name!r} must be a finite number, got None")
        out[_check_name(name)] = checked
    return MappingProxyType(out) if out else None


_Rule = tuple[float | None, float | None, Mapping[str, float] | None]

INDEX_RULE: Any = object()
"""Default of the per-call ``threshold`` / ``min_margin``: use the index's own."""


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
        search: str = "exact",
    ) -> None:
        self._embedder: Embedder = load_embedder(embedder)
        self._strategy: Strategy = make_strategy(strategy, centroids, seed)
        self._lock = threading.RLock()
        self._identity: dict[str, Any] | None = None  # filled lazily (needs the model for the dimension)
        self.calibration_report: dict[str, Any] | None = None
        """What the last one-step calibration (``from_examples(calibrate_oos=...)``) measured."""
        # search: "exact" (default), "ann" or "auto"; see CentroidIndex. Checked here (MissingDependencyError for
        # "ann" without usearch) and carried by every index this router derives.
        self._index: CentroidIndex = CentroidIndex.empty(search=search)
        # (threshold, min_margin, per-adapter thresholds): one tuple so that a reader never pairs a new value
        # with an old one
        self._rule: _Rule = (_check_threshold(threshold, "threshold"), _check_threshold(min_margin, "min_margin"), None)

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
        search: str = "exact",
        batch_size: int = 32,
        calibrate_oos: Sequence[str] | None = None,
        holdout: float = 0.1,
        target_oos_rejection: float | None = None,
    ) -> AriadneRouter:
        """Build a router from ``{adapter_name: [training inputs]}``; all texts are embedded in one pass.

        ``calibrate_oos``: out-of-scope texts (questions no adapter should take). The abstention
        threshold is then calibrated in the same step: a seeded ``holdout`` share of every adapter's
        examples is held out, centroids fitted on the rest score the held-out and the out-of-scope
        texts, :func:`~ariadne_integrations.routing.calibration.calibrate_scores` picks the threshold
        (``target_oos_rejection``: the lowest threshold rejecting that share of the out-of-scope texts;
        default: the balanced objective), and the final centroids are fitted on all examples. The report
        is :attr:`calibration_report`.
        """
        if not isinstance(examples, Mapping):
            raise InvalidInputError(f"examples must be a mapping {{adapter name: [texts]}}, got {type(examples).__name__}")
        if not examples:
            raise InvalidInputError("examples is empty: give at least one adapter with example texts")
        names = [_check_name(n) for n in examples]
        if len(set(names)) != len(names):  # a Mapping whose iteration repeats a key
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise DuplicateAdapterError(f"examples names these adapters more than once: {dupes}")
        groups: list[list[str]] = []
        for name in names:
            texts = examples[name]
            if isinstance(texts, (str, bytes)):
                raise InvalidInputError(f"examples for adapter {name!r} must be a list of strings, not one {type(texts).__name__}")
            try:
                texts = list(texts) if texts is not None else []  # once: a generator can be read only once
            except TypeError:
                raise InvalidInputError(
                    f"examples for adapter {name!r} must be a list of strings, got {type(texts).__name__}") from None
            if not texts:
                raise InvalidInputError(f"adapter {name!r} has no examples; each adapter needs at least one input text")
            groups.append(validate_texts(texts, what=f"examples[{name!r}]"))
        paths = dict(adapter_paths or {})
        unknown = set(paths) - set(names)
        if unknown:
            raise UnknownAdapterError(f"adapter_paths names adapters that have no examples: {sorted(unknown)}")
        router = cls(embedder, strategy=strategy, centroids=centroids, threshold=threshold, min_margin=min_margin, seed=seed,
                     search=search)
        flat = [t for g in groups for t in g]
        vecs = router._embedder.embed(flat, batch_size=batch_size, show_progress=show_progress)
        mats, start = [], 0
        iterator: Any = zip(names, groups)
        if show_progress and len(names) > 1:
            from tqdm.auto import tqdm

            iterator = tqdm(list(iterator), desc="centroids", unit="adapter")
        for _name, g in iterator:
            mats.append(router._strategy.fit(vecs[start : start + len(g)]))
            start += len(g)
        router._index = CentroidIndex(
            tuple(names), tuple(mats), tuple(len(g) for g in groups),
            tuple(str(Path(paths[n]).resolve()) if n in paths else None for n in names),
            vecs.shape[1],
            search,
        )
        if calibrate_oos is not None:
            router._calibrate_on_holdout(names, [len(g) for g in groups], vecs, calibrate_oos, holdout, seed, batch_size,
                                         target_oos_rejection)
        return router

    def _calibrate_on_holdout(self, names: Sequence[str], sizes: Sequence[int], vecs: np.ndarray,
                              oos_texts: Sequence[str], holdout: float, seed: int, batch_size: int,
                              target_oos_rejection: float | None = None) -> None:
        """Threshold from held-out examples + out-of-scope texts, scored by centroids fitted without them."""
        from ariadne_integrations.routing.calibration import calibrate_scores

        if not 0 < holdout < 1:
            raise InvalidInputError(f"holdout must be a share in (0, 1), got {holdout!r}")
        oos = validate_texts(oos_texts, what="calibrate_oos")
        rng = np.random.default_rng(seed)
        fit_mats, held_rows, labels, start = [], [], [], 0
        for name, n in zip(names, sizes):
            order = rng.permutation(n) + start
            k = int(round(holdout * n)) if n >= 5 else 0
            held, fit = order[:k], order[k:]
            fit_mats.append(self._strategy.fit(vecs[fit]))
            held_rows.extend(held.tolist())
            labels.extend([name] * k)
            start += n
        if not held_rows:
            raise InvalidInputError("no adapter has 5 or more examples to hold out for calibration")
        probe = CentroidIndex(tuple(names), tuple(fit_mats), tuple(sizes), (None,) * len(names), vecs.shape[1])
        oos_vecs = self._check_vectors(probe, self._embedder.embed(oos, batch_size=batch_size), len(oos))
        scores = probe.scores(np.concatenate([vecs[held_rows], oos_vecs]))
        report = calibrate_scores(scores, names, labels + [None] * len(oos), target_oos_rejection=target_oos_rejection)
        report = {**report, "n_heldout": len(held_rows), "n_oos": len(oos), "holdout": holdout}
        self.set_thresholds(threshold=report["threshold"], min_margin=None)
        self.calibration_report = report

    @classmethod
    def from_jsonl(
        cls,
        paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        text_field: str = "input",
        label_field: str = "task",
        **kwargs: Any,
    ) -> AriadneRouter:
        """Build from JSONL files of ``{text_field: ..., label_field: adapter}`` lines (see from_examples)."""
        from ariadne_integrations.routing.data import read_examples

        return cls.from_examples(read_examples(paths, text_field=text_field, label_field=label_field), **kwargs)

    @classmethod
    def from_adapters(
        cls,
        folders: Sequence[str | os.PathLike[str]] | Mapping[str, str | os.PathLike[str]],
        **kwargs: Any,
    ) -> AriadneRouter:
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
    def index(self) -> CentroidIndex:
        """The current centroid index: an immutable snapshot (later changes to the router make new ones)."""
        return self._index

    @property
    def search(self) -> str:
        """How the index is searched: "exact", "ann" or "auto" (see CentroidIndex)."""
        return self._index.search

    @property
    def adapters(self) -> list[str]:
        return list(self._index.names)

    @property
    def threshold(self) -> float | None:
        return self._rule[0]

    @property
    def min_margin(self) -> float | None:
        return self._rule[1]

    @property
    def adapter_thresholds(self) -> dict[str, float]:
        """Per-adapter score thresholds (a copy; empty when none): each replaces :attr:`threshold` for its adapter."""
        return dict(self._rule[2] or {})

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __repr__(self) -> str:
        idx, (threshold, min_margin, per_adapter) = self._index, self._rule
        own = f", adapter_thresholds={len(per_adapter)}" if per_adapter else ""
        return (f"AriadneRouter(adapters={len(idx)}, centroids={idx.n_centroids}, strategy={self._strategy.name!r}, "
                f"embedder={self._embedder.name!r}, threshold={threshold}, min_margin={min_margin}{own})")

    def adapter_path(self, name: str) -> str | None:
        """The adapter folder recorded for ``name`` (None when none was given)."""
        return self._index.adapter_path_of(name)

    def centroids(self, name: str) -> np.ndarray:
        """``name``'s centroids (m, d), read-only."""
        return self._index.centroids_of(name)

    def n_examples(self, name: str) -> int:
        """How many training inputs ``name``'s centroids summarise."""
        return self._index.n_examples_of(name)

    def embedder_identity(self) -> dict[str, Any]:
        if self._identity is None:
            self._identity = embedder_identity(self._embedder)
        return self._identity

    # ------------------------------------------------------------------ routing
    def embed(self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        """Embed texts with the router's embedder (unit-norm float32 rows)."""
        return self._embedder.embed(texts, batch_size=batch_size, show_progress=show_progress)

    def route(self, query: str, *, threshold: Any = INDEX_RULE, min_margin: Any = INDEX_RULE) -> RouteDecision:
        """Route one query: the best adapter, or abstain below the thresholds."""
        return self.route_batch([_check_query(query)], threshold=threshold, min_margin=min_margin)[0]

    def route_batch(self, queries: Sequence[str], *, batch_size: int = 32, threshold: Any = INDEX_RULE,
                    min_margin: Any = INDEX_RULE) -> list[RouteDecision]:
        """Route many queries with one embedding call and one matrix product.

        ``threshold`` / ``min_margin`` override the index's own for this call (None = no such rule);
        left out, the index's apply. A ``threshold`` given here also replaces the per-adapter thresholds
        (:attr:`adapter_thresholds`) for this call.
        """
        if isinstance(queries, str):
            raise InvalidInputError("route_batch takes a list of queries; use route() for a single string")
        items = validate_texts(queries, what="queries")
        idx = self._require_adapters()
        rule = self._rule
        rule = (rule[0] if threshold is INDEX_RULE else _check_threshold(threshold, "threshold"),
                rule[1] if min_margin is INDEX_RULE else _check_threshold(min_margin, "min_margin"),
                rule[2] if threshold is INDEX_RULE else None)
        vecs = self._check_vectors(idx, self._embedder.embed(items, batch_size=batch_size), len(items))
        return self._decide(idx, vecs, rule)

    def route_embeddings(self, vectors: np.ndarray) -> list[RouteDecision]:
        """Route precomputed query embeddings (n, d) made by this router's embedder."""
        idx = self._require_adapters()
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim == 1:
            v = v[None, :]
        return self._decide(idx, self._check_vectors(idx, normalize_rows(v), None))

    def scores(self, queries: Sequence[str] | np.ndarray) -> np.ndarray:
        """Per-adapter scores (n, A) in :attr:`adapters` order: texts or precomputed embeddings."""
        idx = self._require_adapters()
        if isinstance(queries, np.ndarray):
            v = queries[None, :] if queries.ndim == 1 else queries
            vecs = self._check_vectors(idx, normalize_rows(v), None)
        else:
            items = validate_texts(queries, what="queries")
            vecs = self._check_vectors(idx, self._embedder.embed(items), len(items))
        return idx.scores(vecs)

    def _require_adapters(self) -> CentroidIndex:
        idx = self._index
        if not idx.names:
            raise InvalidInputError("the router has no adapters yet; add one with add_adapter() or build with from_examples()")
        return idx

    @staticmethod
    def _check_vectors(idx: CentroidIndex, vecs: np.ndarray, n: int | None) -> np.ndarray:
        d = idx.dimension
        if vecs.ndim != 2 or vecs.shape[1] != d or (n is not None and vecs.shape[0] != n):
            raise EmbedderMismatchError(f"query embeddings have shape {vecs.shape}, the index expects (n, {d})")
        if not np.all(np.isfinite(vecs)):
            raise InvalidInputError("query embeddings contain NaN or infinite values")
        return vecs

    def _decide(self, idx: CentroidIndex, vecs: np.ndarray, rule: _Rule | None = None) -> list[RouteDecision]:
        threshold, min_margin, per_adapter = self._rule if rule is None else rule
        if idx.uses_ann:  # decisions from the top-k adapters; their scores are exact, the others are not reported
            cols, top = idx.top_adapters(vecs)
            return decide_top(cols, top, idx.names, threshold, min_margin, per_adapter)
        return decide(idx.scores(vecs), idx.names, threshold, min_margin, per_adapter)

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
        if not replace and name in self._index:  # cheap early check before embedding
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
        idx = self._index
        return idx.dimension if idx.names else int(self._embedder.dimension)

    def _put(self, name: str, vecs: np.ndarray, n: int, adapter_path: Any, replace_existing: bool) -> None:
        cents = self._strategy.fit(vecs)
        path = None if adapter_path is None else str(Path(adapter_path).resolve())
        with self._lock:
            self._index = self._index.with_adapter(name, cents, n_examples=n, adapter_path=path, replace=replace_existing)
        log.info("added adapter %s (%d examples, %d centroids)", name, n, cents.shape[0])

    def remove_adapter(self, name: str) -> None:
        """Remove one adapter (and its own threshold, if any); the others keep their centroids bit for bit."""
        with self._lock:
            self._index = self._index.without_adapter(name)
            t, m, per_adapter = self._rule
            if per_adapter and name in per_adapter:
                self._rule = (t, m, _check_adapter_thresholds({k: v for k, v in per_adapter.items() if k != name}))

    def set_adapter_path(self, name: str, adapter_path: str | os.PathLike[str] | None) -> None:
        """Record (or clear) the adapter folder for ``name``."""
        path = None if adapter_path is None else str(Path(adapter_path).resolve())
        with self._lock:
            self._index = self._index.with_adapter_path(name, path)

    def set_thresholds(self, threshold: float | None = None, min_margin: float | None = None, *,
                       adapter_thresholds: Mapping[str, float] | None = None) -> None:
        """Set the abstention rule: abstain when score < threshold or margin < min_margin (None = off).

        ``adapter_thresholds`` ({adapter: threshold}) gives adapters their own score threshold, which
        replaces ``threshold`` when that adapter is the best one (an adapter without an entry uses
        ``threshold``). Each name must be an adapter in the index (UnknownAdapterError otherwise).
        """
        t = _check_threshold(threshold, "threshold")
        m = _check_threshold(min_margin, "min_margin")
        per_adapter = _check_adapter_thresholds(adapter_thresholds)
        with self._lock:
            unknown = sorted(set(per_adapter or ()) - set(self._index.names))
            if unknown:
                raise UnknownAdapterError(f"adapter_thresholds name adapters not in the index: {unknown[:5]}")
            self._rule = (t, m, per_adapter)

    # ------------------------------------------------------------------ calibration
    def calibrate(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        oos_texts: Sequence[str] | None = None,
        *,
        by: str = "score",
        method: str = "global",
        target_oos_rejection: float | None = None,
        target_in_scope_accuracy: float | None = None,
        max_accuracy_drop: float = 0.01,
        apply: bool = True,
    ) -> dict[str, Any]:
        """Choose an abstention threshold from held-out data; see :func:`calibration.calibrate_threshold`.

        ``labels`` name each text's adapter; a label that is not an adapter in the index (and every
        text of ``oos_texts``) counts as out of scope.

        ``method="global"`` (default): one threshold on the best score (``by="score"``) or on the margin
        (``by="margin"``). ``method="per_adapter"`` (with ``by="score"``): one score threshold per adapter,
        from its held-out scores' mean and spread (:func:`calibration.calibrate_per_adapter`; the report's
        ``adapter_thresholds``); applied, the global ``threshold`` becomes the fallback for adapters added
        later. The held-out texts should cover every adapter (one with fewer than 5 correctly routed texts
        gets the pooled mean and spread).
        """
        from ariadne_integrations.routing.calibration import METHODS, calibrate_per_adapter, calibrate_scores

        if method not in METHODS:
            raise InvalidInputError(f"method must be one of {METHODS}, got {method!r}")
        if method == "per_adapter" and by != "score":
            raise InvalidInputError("method='per_adapter' thresholds the score; use by='score'")

        items = validate_texts(texts, what="texts")
        labs = list(labels)
        if len(labs) != len(items):
            raise InvalidInputError(f"texts and labels differ in length ({len(items)} vs {len(labs)})")
        extra_oos = validate_texts(oos_texts, what="oos_texts") if oos_texts is not None else []
        if not any(lab in self._index for lab in labs):  # before embedding anything
            raise InvalidInputError("no calibration label is an adapter in the index; labels must name adapters")
        all_texts = items + extra_oos
        idx = self._require_adapters()
        vecs = self._check_vectors(idx, self._embedder.embed(all_texts), len(all_texts))
        if method == "per_adapter":
            result = calibrate_per_adapter(idx.scores(vecs), idx.names, labs + [None] * len(extra_oos),
                                           target_oos_rejection=target_oos_rejection,
                                           target_in_scope_accuracy=target_in_scope_accuracy,
                                           max_accuracy_drop=max_accuracy_drop)
            if apply:
                self.set_thresholds(threshold=result["threshold"], min_margin=None,
                                    adapter_thresholds=result["adapter_thresholds"])
            return result
        result = calibrate_scores(
            idx.scores(vecs),
            idx.names,
            labs + [None] * len(extra_oos),
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
    def save(self, folder: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the index to ``folder`` atomically; see :mod:`~ariadne_integrations.routing.persistence`.

        A reader loading ``folder`` meanwhile gets the previous index or this one, never a mix. A folder
        that is not empty and is not a routing index already (it holds other files, a project's own
        ``index.json``) is refused with :class:`~ariadne_integrations.errors.IndexOverwriteError` unless
        ``overwrite=True``; the index's files are then added beside the others (nothing else is removed).
        Saving over an index of ours (re-saving) needs no switch. A symlink ``folder`` stays a link: the
        folder it points to is updated.
        """
        from ariadne_integrations.routing.persistence import IndexPayload, save_index

        idx = self._require_adapters()
        threshold, min_margin, per_adapter = self._rule
        identity = self.embedder_identity()
        if identity["dimension"] != idx.dimension:
            raise EmbedderMismatchError(f"the embedder makes {identity['dimension']}-d vectors but the index holds {idx.dimension}-d")
        payload = IndexPayload.from_index(
            idx,
            embedder=identity,
            strategy={"name": self._strategy.name, **self._strategy.params()},
            thresholds={"threshold": threshold, "min_margin": min_margin},
        )
        own = {k: v for k, v in (per_adapter or {}).items() if k in idx}
        if own:  # written only when set, so an index without them is byte for byte what older versions wrote
            payload.thresholds["per_adapter"] = own
        return save_index(folder, payload, overwrite=overwrite)

    @classmethod
    def load(cls, folder: str | os.PathLike[str], embedder: Embedder | str | None = None,
             device: str | None = "auto", *, search: str = "exact") -> AriadneRouter:
        """Load an index; the embedder is re-created from the stored identity (on ``device``: "auto" = CUDA
        when available, else CPU) unless given.

        ``search`` is how the loaded index is searched ("exact", "ann", "auto"; not stored in the folder).

        A given (or re-created) embedder whose dimension or fingerprint differs from the stored one
        raises EmbedderMismatchError.
        """
        from ariadne_integrations.routing.ann import SEARCH_MODES
        from ariadne_integrations.routing.persistence import load_index

        if search not in SEARCH_MODES:  # the caller's argument, not the index's settings: say so before loading
            raise InvalidInputError(f"search must be one of {list(SEARCH_MODES)}, got {search!r}")
        payload = load_index(folder)
        ident = payload.embedder
        if embedder is None:
            spec = ident.get("spec") or ident["name"]
            try:
                embedder = load_embedder(spec, device=device)
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
                         threshold=th.get("threshold"), min_margin=th.get("min_margin"), search=search)
            index = payload.to_index().with_search(search)
        except InvalidInputError as exc:
            from ariadne_integrations.errors import IndexFormatError

            raise IndexFormatError(f"index {folder} has invalid settings: {exc}") from exc
        router._identity = dict(ident)
        router._index = index
        per_adapter = th.get("per_adapter")
        if per_adapter:  # checked against the adapters by the manifest's schema
            router._rule = (router._rule[0], router._rule[1], _check_adapter_thresholds(per_adapter))
        return router
