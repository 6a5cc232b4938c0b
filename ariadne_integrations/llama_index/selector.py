"""AriadneSelector: LlamaIndex's ``BaseSelector`` backed by ARIADNE example centroids.

Why: LlamaIndex's ``EmbeddingSingleSelector`` compares a query with one description per tool and
re-embeds those descriptions on every call; ``LLMSingleSelector`` asks an LLM. ARIADNE instead keeps a
few centroids of each tool's *example queries* (embedded once, at construction) and picks the tool
whose centroids are nearest: one query embedding and one matrix product per call.

How choices are matched to routes (``ToolMetadata`` is all LlamaIndex hands a selector):

1. a choice whose ``name`` is a route of the router uses that route's centroids;
2. when NO choice has a name (``None`` or blank, e.g. plain strings handed to ``select``), choice
   ``i`` takes the route at position ``i`` of :attr:`AriadneSelector.routes` (the order of the
   ``examples`` mapping / of the index); choices beyond the last route fall to rule 3. In a list
   that mixes named and name-less choices, the name-less ones fall to rule 3 (a position would be
   ambiguous there);
3. any other choice competes with its ``description`` as a single centroid (embedded once and cached
   by text), so a tool you have no examples for still takes part;
4. a choice with neither examples nor a description raises :class:`InvalidInputError`.

Routes that are not among the choices of a call are simply ignored for that call (a router built
for ten tools serves an engine that exposes three of them). Each choice set becomes a
:class:`~ariadne_integrations.routing.centroid_index.CentroidIndex` (the router's own centroid arrays
plus description vectors), cached, so repeated calls with the same tools only embed the query; the
best tool, runner-up and margin come from the routing layer's :func:`~ariadne_integrations.routing.decision.rank`.

Abstention: when the best score is below ``threshold`` (or, with two or more choices, its lead over
the runner-up below ``min_margin``), the query resembles none of the tools. ``RouterQueryEngine`` and
``RouterRetriever`` raise ``ValueError("Failed to select ...")`` on an empty selection, so the default
``on_abstain="best"`` still returns the best tool, with a reason that says the confidence is low;
``"fallback:<tool name>"`` sends such queries to a designated catch-all tool; ``"empty"`` returns no
selection (for callers that call :meth:`select` themselves and handle it).
"""
from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
from llama_index.core.base.base_selector import BaseSelector, SelectorResult, SingleSelection
from llama_index.core.prompts.mixin import PromptDictType
from llama_index.core.schema import QueryBundle
from llama_index.core.tools.types import ToolMetadata

from ariadne_integrations.errors import InvalidInputError
from ariadne_integrations.routing.centroid_index import CentroidIndex
from ariadne_integrations.routing.decision import rank

if TYPE_CHECKING:  # pragma: no cover
    from ariadne_integrations.routing.embedders import Embedder
    from ariadne_integrations.routing.router import AriadneRouter

log = logging.getLogger(__name__)

__all__ = ["AriadneSelector"]

_CACHE_SIZE = 64


@dataclass(frozen=True)
class _ChoiceSet:
    """The centroids of one list of choices, in choice order."""

    labels: tuple[str, ...]  # display name per choice (tool name, route name or "choice #i")
    sources: tuple[str, ...]  # "examples:<route>" or "description"
    index: CentroidIndex  # one entry per choice, keyed by position ("0", "1", ...): tool names may repeat
    route_arrays: tuple[Any, ...]  # the router's centroid arrays used (identity check for staleness)


def _check_number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise InvalidInputError(f"{what} must be a finite number or None, got {value!r}")
    return float(value)


class AriadneSelector(BaseSelector):
    """Select LlamaIndex tools by nearest example-query centroids (training-free ARIADNE routing).

    Build it with :meth:`from_examples` (``{tool name: [example queries]}``), :meth:`from_router`
    or :meth:`from_index` (the same index folder the LangChain side uses), then pass it as
    ``selector=`` to ``RouterQueryEngine`` or ``RouterRetriever``.

    Args:
        router: the :class:`AriadneRouter` whose routes (adapters) are the tools' example centroids.
        top_k: most selections per call. ``None`` (default) means 1, or "no limit" when
            ``multi_threshold`` is set. Values above 1 make the engines query several tools and
            summarise their answers.
        multi_threshold: when set, every tool scoring at least this much is selected (best first,
            at most ``top_k``); the best tool is always selected unless the query abstains.
        threshold / min_margin: abstention settings (absolute cosine score of the best tool / its
            lead over the runner-up). ``None`` takes the router's own (calibrated or saved) values.
        on_abstain: ``"best"`` (default), ``"empty"`` or ``"fallback:<tool name>"``; see the module doc.
    """

    def __init__(
        self,
        router: AriadneRouter,
        *,
        top_k: int | None = None,
        multi_threshold: float | None = None,
        threshold: float | None = None,
        min_margin: float | None = None,
        on_abstain: str = "best",
    ) -> None:
        from ariadne_integrations.routing.router import AriadneRouter

        if not isinstance(router, AriadneRouter):
            raise InvalidInputError(f"router must be an AriadneRouter, got {type(router).__name__}")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise InvalidInputError(f"top_k must be a positive int or None, got {top_k!r}")
        self._router = router
        self._top_k = top_k
        self._multi_threshold = _check_number(multi_threshold, "multi_threshold")
        self._threshold = _check_number(threshold, "threshold")
        self._min_margin = _check_number(min_margin, "min_margin")
        self._on_abstain, self._fallback = self._parse_on_abstain(on_abstain)
        self._lock = threading.Lock()
        self._sets: OrderedDict[tuple, _ChoiceSet] = OrderedDict()
        self._desc_cache: dict[str, np.ndarray] = {}
        self._warned: set[str] = set()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_examples(
        cls,
        examples: Mapping[str, Sequence[str]],
        *,
        embedder: Embedder | str | None = None,
        strategy: str | None = None,
        centroids: int | None = None,
        top_k: int | None = None,
        multi_threshold: float | None = None,
        threshold: float | None = None,
        min_margin: float | None = None,
        on_abstain: str = "best",
    ) -> AriadneSelector:
        """Build from ``{tool name: [example queries]}``; every example is embedded once, here.

        ``embedder`` is any sentence-transformers path/id or an Embedder (default: offline MiniLM);
        ``strategy``/``centroids`` choose the centroid placement (the router's default when None).
        """
        from ariadne_integrations.routing.router import AriadneRouter

        kwargs: dict[str, Any] = {"embedder": embedder, "centroids": centroids}
        if strategy is not None:
            kwargs["strategy"] = strategy
        router = AriadneRouter.from_examples(examples, **kwargs)
        return cls(router, top_k=top_k, multi_threshold=multi_threshold, threshold=threshold,
                   min_margin=min_margin, on_abstain=on_abstain)

    @classmethod
    def from_router(cls, router: AriadneRouter, **kwargs: Any) -> AriadneSelector:
        """Wrap an existing router (no re-embedding); ``kwargs`` as in the constructor."""
        return cls(router, **kwargs)

    @classmethod
    def from_index(
        cls, path: str | os.PathLike[str], *, embedder: Embedder | str | None = None, **kwargs: Any
    ) -> AriadneSelector:
        """Load a saved routing index (``ariadne index build`` / ``AriadneRouter.save``) as a selector."""
        from ariadne_integrations.routing.router import AriadneRouter

        return cls(AriadneRouter.load(path, embedder=embedder), **kwargs)

    @staticmethod
    def _parse_on_abstain(value: Any) -> tuple[str, str | None]:
        if isinstance(value, str):
            if value in ("best", "empty"):
                return value, None
            if value.startswith("fallback:") and value[len("fallback:"):].strip():
                return "fallback", value[len("fallback:"):].strip()
        raise InvalidInputError(
            f"on_abstain must be 'best', 'empty' or 'fallback:<tool name>', got {value!r}"
        )

    # ------------------------------------------------------------------ properties
    @property
    def router(self) -> AriadneRouter:
        return self._router

    @property
    def routes(self) -> list[str]:
        """Route names with example centroids, in the order used for name-less choices."""
        return self._router.adapters

    @property
    def threshold(self) -> float | None:
        return self._threshold if self._threshold is not None else self._router.threshold

    @property
    def min_margin(self) -> float | None:
        return self._min_margin if self._min_margin is not None else self._router.min_margin

    # ------------------------------------------------------------------ PromptMixin
    def _get_prompts(self) -> dict[str, Any]:
        """No prompts: selection is by embeddings only."""
        return {}

    def _update_prompts(self, prompts: PromptDictType) -> None:
        """Nothing to update (no prompts)."""

    # ------------------------------------------------------------------ choice sets
    def _description_vector(self, text: str) -> np.ndarray:
        vec = self._desc_cache.get(text)
        if vec is None:
            vec = self._router.embed([text])[0:1].copy()  # owns its data: CentroidIndex reuses it as is
            vec.setflags(write=False)
            self._desc_cache[text] = vec
        return vec

    def _choice_set(self, choices: Sequence[ToolMetadata]) -> _ChoiceSet:
        if len(choices) == 0:
            raise InvalidInputError("the choice list is empty: give the selector at least one tool to choose from")
        key = tuple((c.name, c.description) for c in choices)
        routes = self._router.adapters
        with self._lock:
            cached = self._sets.get(key)
            if cached is not None and self._fresh(cached):
                self._sets.move_to_end(key)
                return cached
        for i, choice in enumerate(choices):
            if not isinstance(choice, ToolMetadata):
                raise InvalidInputError(f"choice #{i} must be a ToolMetadata or a string, got {type(choice).__name__}")
        names = [c.name if isinstance(c.name, str) and c.name.strip() else None for c in choices]
        positional = all(n is None for n in names)
        labels: list[str] = []
        sources: list[str] = []
        mats: list[np.ndarray] = []
        used: list[np.ndarray | None] = []
        for i, (choice, name) in enumerate(zip(choices, names)):
            route = None
            if name is not None and name in routes:
                route = name
            elif positional and i < len(routes):
                route = routes[i]  # no names at all: match by position
            if route is not None:
                arr = self._router.centroids(route)
                labels.append(name or route)
                sources.append(f"examples:{route}")
                mats.append(arr)
                used.append(arr)
                continue
            desc = choice.description if isinstance(choice.description, str) else ""
            if not desc.strip():
                who = f"tool {name!r}" if name else f"choice #{i} (no name)"
                raise InvalidInputError(
                    f"{who} has no example queries in the selector and no description: add examples for it "
                    f"(known routes: {routes}) or give its ToolMetadata a description"
                )
            with self._lock:
                vec = self._description_vector(desc)
            labels.append(name or f"choice #{i}")
            sources.append("description")
            mats.append(vec)
            used.append(None)
        unmatched = sorted(n for n, src in zip(names, sources) if n is not None and src == "description")
        if unmatched and routes:
            self._warn_unmatched(unmatched, routes)
        index = CentroidIndex(tuple(str(i) for i in range(len(mats))), tuple(mats))
        cs = _ChoiceSet(tuple(labels), tuple(sources), index, tuple(used))
        with self._lock:
            self._sets[key] = cs
            self._sets.move_to_end(key)
            while len(self._sets) > _CACHE_SIZE:
                self._sets.popitem(last=False)
        log.debug("built choice set %s (%d centroids)", cs.labels, index.n_centroids)
        return cs

    def _warn_unmatched(self, unmatched: list[str], routes: Sequence[str]) -> None:
        """Once per tool name: a tool without examples is scored by its description alone, which is
        much weaker; usually its name differs from the example keys by a typo."""
        with self._lock:
            unmatched = [n for n in dict.fromkeys(unmatched) if n not in self._warned]
            self._warned.update(unmatched)
        if not unmatched:
            return
        warnings.warn(
            f"AriadneSelector: tool(s) {unmatched} match no example key, so they are scored by their description "
            f"only; the example keys are {sorted(routes)}. Name the tools like the keys (or add examples for them).",
            UserWarning, stacklevel=4,
        )

    def _fresh(self, cs: _ChoiceSet) -> bool:
        """A cached set is stale when a route it uses was replaced or removed in the router."""
        routes = self._router.adapters
        for src, arr in zip(cs.sources, cs.route_arrays):
            if arr is None:
                continue
            route = src[len("examples:"):]
            if route not in routes or self._router.centroids(route) is not arr:
                return False
        return True

    # ------------------------------------------------------------------ scoring
    def _query_vector(self, query: QueryBundle) -> np.ndarray:
        texts = [t for t in (query.embedding_strs or [query.query_str]) if isinstance(t, str) and t.strip()]
        if not texts:
            raise InvalidInputError("the query is empty or whitespace only; give the selector a question to route")
        vecs = self._router.embed(texts)
        v = vecs.mean(axis=0) if len(texts) > 1 else vecs[0]
        n = float(np.linalg.norm(v))
        return v / n if n > 0 else v

    def scores(self, choices: Sequence[ToolMetadata | str], query: QueryBundle | str) -> list[float]:
        """The similarity of ``query`` to each choice, in choice order (for inspection and plots)."""
        metas = [c if isinstance(c, ToolMetadata) else ToolMetadata(description=c) for c in choices]
        q = query if isinstance(query, QueryBundle) else QueryBundle(query_str=query)
        _, s = self._score(metas, q)
        return s.tolist()

    def _score(self, choices: Sequence[ToolMetadata], query: QueryBundle) -> tuple[_ChoiceSet, np.ndarray]:
        if not isinstance(query, QueryBundle) or not isinstance(query.query_str, str):
            raise InvalidInputError(f"the query must be a string or QueryBundle, got {type(query).__name__}")
        cs = self._choice_set(choices)
        q = self._query_vector(query)
        return cs, cs.index.scores(q)

    # ------------------------------------------------------------------ selection
    def _select(self, choices: Sequence[ToolMetadata], query: QueryBundle) -> SelectorResult:
        cs, s = self._score(choices, query)
        ranking = rank(s)
        best = int(ranking.best_index[0])
        second = None if ranking.runner_up_index is None else int(ranking.runner_up_index[0])
        margin = float(ranking.margin[0])
        # The router's rule (decision.decide) with two differences that keep this selector's behaviour:
        # min_margin does not apply to a single choice, and each unmet condition is named in the reason.
        thr, mm = self.threshold, self.min_margin
        low = []
        if thr is not None and s[best] < thr:
            low.append(f"score {s[best]:.3f} < threshold {thr:.3f}")
        if mm is not None and second is not None and margin < mm:
            low.append(f"margin {margin:.3f} < min_margin {mm:.3f}")
        if low:
            return self._abstain(cs, s, best, second, margin, "; ".join(low), choices)

        order = np.argsort(-s, kind="stable")
        limit = self._top_k if self._top_k is not None else (len(order) if self._multi_threshold is not None else 1)
        picks = [best]
        for j in order:
            if len(picks) >= limit:
                break
            j = int(j)
            if j == best:
                continue
            if self._multi_threshold is not None and s[j] < self._multi_threshold:
                break
            if thr is not None and s[j] < thr:
                break
            picks.append(j)
        sels = [SingleSelection(index=j, reason=self._reason(cs, s, j, best, second, margin)) for j in picks]
        return SelectorResult(selections=sels)

    def _reason(self, cs: _ChoiceSet, s: np.ndarray, j: int, best: int, second: int | None, margin: float) -> str:
        src = "examples" if cs.sources[j].startswith("examples:") else "description"
        head = f"ARIADNE route {cs.labels[j]!r} (by {src}) score {s[j]:.3f}"
        if j != best:
            return f"{head}; also selected, {float(s[best] - s[j]):.3f} behind the best {cs.labels[best]!r} ({s[best]:.3f})"
        if second is None:
            return f"{head}; no runner-up (single choice)"
        return f"{head}; runner-up {cs.labels[second]!r} {s[second]:.3f} (margin {margin:.3f})"

    def _abstain(
        self, cs: _ChoiceSet, s: np.ndarray, best: int, second: int | None, margin: float, why: str,
        choices: Sequence[ToolMetadata],
    ) -> SelectorResult:
        base = self._reason(cs, s, best, best, second, margin)
        if self._on_abstain == "empty":
            log.info("abstained (%s); returning no selection", why)
            return SelectorResult(selections=[])
        if self._on_abstain == "fallback":
            names = [c.name for c in choices]
            if self._fallback not in names:
                raise InvalidInputError(
                    f"the query abstained ({why}) and the fallback tool {self._fallback!r} is not among the choices "
                    f"{names}; add that tool or change on_abstain"
                )
            k = names.index(self._fallback)
            reason = f"low confidence ({why}): fallback tool {self._fallback!r}; best was: {base}"
            return SelectorResult(selections=[SingleSelection(index=k, reason=reason)])
        return SelectorResult(selections=[SingleSelection(index=best, reason=f"low confidence ({why}): {base}")])

    async def _aselect(self, choices: Sequence[ToolMetadata], query: QueryBundle) -> SelectorResult:
        """Embedding is CPU-bound: run it in a worker thread so the event loop keeps serving."""
        return await asyncio.to_thread(self._select, choices, query)

    def __repr__(self) -> str:
        return (f"AriadneSelector(routes={self.routes}, top_k={self._top_k}, multi_threshold={self._multi_threshold}, "
                f"threshold={self.threshold}, min_margin={self.min_margin}, on_abstain={self._on_abstain!r})")
