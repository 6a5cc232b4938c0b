"""Request coalescing: concurrent calls on one backend are routed and generated as ONE mixed batch.

Why: agent frameworks fan sub-queries out as separate concurrent calls (LangGraph's ``Send``,
``RunnableParallel``, ``asyncio.gather`` of ``ainvoke``, thread pools). Generated one by one they
lose the mixed-adapter batch, which is several times faster than a loop. A :class:`Coalescer` collects
the calls that arrive while a batch is forming and answers them together:

- a call is a :class:`CoalescedRequest` (its prompts, its config, either its decisions or the texts to
  route) and gets a :class:`concurrent.futures.Future`: sync callers block on it, async callers await
  it (``asyncio.wrap_future``), so an event loop is never blocked and holds no worker thread;
- a leader thread (started when a call arrives, gone when none is pending) closes the batch once no
  new call arrived for ``window_ms``, when it holds ``max_batch_size`` prompts, or at the latest
  ``10 × window_ms`` after its first call; calls that arrive while a batch generates form the next one;
- the batch is routed in one pass per router and routing rule, then generated in one
  ``backend.generate`` per :class:`GenerationConfig` (calls with different settings cannot share a
  ``generate``; sampling with a fixed seed runs alone, so a seeded call stays reproducible);
- each caller gets only its own rows back; a call whose routing, adapter check or result handling
  fails gets that error alone; when a shared ``generate`` raises, each call of it is retried alone, so
  only the bad one fails; when an adapter fails to load (``PartialBatchError``: the backend answered the
  other rows), only the calls holding its rows see it (``finish_partial``), the others get their answers.

Streams are not coalesced (a stream's tokens go to one consumer as they are produced; merging the
token streams of a batch is not done here): ``RoutedGenerator.stream`` calls the backend directly.

There is one coalescer per backend object and setting (:func:`coalescer_for`), so calls from
different wrapper objects over the same cached runtime (``core.shared``) meet in the same batch.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Sequence

from ariadne_integrations.errors import InvalidInputError, PartialBatchError
from ariadne_integrations.routing.decision import RouteDecision
from ariadne_integrations.runtime.generation import GenerationBackend, GenerationConfig, GenerationResult, Prompt

logger = logging.getLogger(__name__)

__all__ = ["CoalescedRequest", "Coalescer", "coalescer_for", "MAX_WAIT_WINDOWS"]

MAX_WAIT_WINDOWS = 10
"""A forming batch closes at the latest this many windows after its first call (calls that keep
arriving less than a window apart would otherwise hold it open)."""


def _pairs(decisions: list[RouteDecision], results: list[GenerationResult]) -> Any:
    return list(zip(decisions, results))


@dataclass(eq=False)
class CoalescedRequest:
    """One caller's share of a coalesced batch.

    ``decisions`` given (a forced adapter): no routing. Else ``route(route_texts)`` decides, in one
    call with every other request of the batch that has the same ``route_key`` (same router and
    rule). ``check(decisions)`` raises when the backend cannot serve them. The future's result is
    ``finish(decisions, results)`` (default: the ``(decision, result)`` pairs). When some of its rows'
    adapters failed to load, the result is ``finish_partial(decisions, results, row_errors)`` (results
    None at those rows); without it the call fails with its first row's error.
    """

    backend: GenerationBackend
    prompts: list[Prompt]
    config: GenerationConfig
    decisions: list[RouteDecision] | None = None
    route_texts: list[str] | None = None
    route: Callable[[list[str]], list[RouteDecision]] | None = None
    route_key: Hashable = None
    check: Callable[[list[RouteDecision]], None] | None = None
    finish: Callable[[list[RouteDecision], list[GenerationResult]], Any] = _pairs
    finish_partial: Callable[[list[RouteDecision], list[GenerationResult | None], dict[int, Exception]], Any] | None = None
    future: Future[Any] = field(default_factory=Future)
    arrived: float = 0.0

    def __post_init__(self) -> None:
        if not self.prompts:
            raise InvalidInputError("a coalesced request needs at least one prompt")
        if self.decisions is None and (self.route is None or self.route_texts is None):
            raise InvalidInputError("a coalesced request needs decisions, or route and route_texts")
        n = len(self.decisions if self.decisions is not None else self.route_texts or ())
        if n != len(self.prompts):
            raise InvalidInputError(f"{n} decisions / route texts for {len(self.prompts)} prompts")

    @property
    def size(self) -> int:
        return len(self.prompts)

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


@dataclass
class CoalescerStats:
    """Counters (for tests and benchmarks): calls submitted, batches formed, backend generate calls,
    batches whose shared generate failed and were retried call by call."""

    requests: int = 0
    prompts: int = 0
    batches: int = 0
    generate_calls: int = 0
    retried: int = 0


class Coalescer:
    """Collects concurrent requests for one backend and answers them in shared ``generate`` calls.

    ``window_ms``: a forming batch closes once no new request arrived for this long (> 0).
    ``max_batch_size``: most prompts per batch (a single larger request still runs whole, alone).
    """

    def __init__(self, window_ms: float, max_batch_size: int, *, max_wait_ms: float | None = None) -> None:
        if not window_ms > 0:
            raise InvalidInputError(f"window_ms must be > 0 (0 means no coalescer at all), got {window_ms!r}")
        if not isinstance(max_batch_size, int) or max_batch_size < 1:
            raise InvalidInputError(f"max_batch_size must be a positive int, got {max_batch_size!r}")
        self.window = float(window_ms) / 1000.0
        self.max_wait = (float(max_wait_ms) / 1000.0) if max_wait_ms is not None else MAX_WAIT_WINDOWS * self.window
        self.max_batch_size = max_batch_size
        self.stats = CoalescerStats()
        self._cv = threading.Condition()
        self._pending: deque[CoalescedRequest] = deque()
        self._last_arrival = 0.0
        self._worker: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"Coalescer(window_ms={self.window * 1000:g}, max_batch_size={self.max_batch_size})"

    # ------------------------------------------------------------------ callers
    def submit(self, request: CoalescedRequest) -> Future[Any]:
        """Queue ``request`` for the next batch; its future completes when its rows are answered."""
        if threading.current_thread() is self._worker:  # a backend calling back in: answer inline
            self._execute([request])
            return request.future
        with self._cv:
            request.arrived = self._last_arrival = time.monotonic()
            self._pending.append(request)
            self.stats.requests += 1
            self.stats.prompts += request.size
            if self._worker is None or not self._worker.is_alive():  # (not alive: a forked child's copy)
                self._worker = threading.Thread(target=self._run, name="ariadne-coalescer", daemon=True)
                self._worker.start()
            else:
                self._cv.notify()
        return request.future

    def run(self, request: CoalescedRequest) -> Any:
        """Submit and wait (sync callers)."""
        return self.submit(request).result()

    # ------------------------------------------------------------------ the leader
    def _run(self) -> None:
        while True:
            with self._cv:
                batch = self._take()
                if not batch:
                    self._worker = None
                    return
            self._execute(batch)

    def _take(self) -> list[CoalescedRequest]:
        """Wait (holding the condition) until the forming batch closes; pop it (FIFO, whole requests)."""
        while True:
            self._pending = deque(r for r in self._pending if not r.future.cancelled())
            if not self._pending:
                return []
            now = time.monotonic()
            rows = sum(r.size for r in self._pending)
            deadline = min(self._last_arrival + self.window, self._pending[0].arrived + self.max_wait)
            if rows >= self.max_batch_size or now >= deadline:
                break
            self._cv.wait(deadline - now)
        batch: list[CoalescedRequest] = []
        rows = 0
        while self._pending and (not batch or rows + self._pending[0].size <= self.max_batch_size):
            req = self._pending.popleft()
            batch.append(req)
            rows += req.size
        return batch

    def _execute(self, batch: Sequence[CoalescedRequest]) -> None:
        live = [r for r in batch if r.future.set_running_or_notify_cancel()]
        if not live:
            return
        self.stats.batches += 1
        try:
            self._route(live)
            groups: dict[Hashable, list[CoalescedRequest]] = {}
            for r in live:
                if not r.future.done():
                    groups.setdefault(self._group_key(r), []).append(r)
            for group in groups.values():
                self._generate(group)
        except BaseException as exc:  # handed to every caller still waiting
            logger.exception("coalesced batch failed")
            for r in live:
                r.fail(exc)

    @staticmethod
    def _group_key(r: CoalescedRequest) -> Hashable:
        cfg = r.config
        if cfg.do_sample and cfg.seed is not None:
            return ("alone", id(r))  # a seeded sample must not depend on its batch companions
        return (id(r.backend), cfg)

    def _route(self, live: list[CoalescedRequest]) -> None:
        by_key: dict[Hashable, list[CoalescedRequest]] = {}
        for r in live:
            if r.decisions is None:
                by_key.setdefault(r.route_key if r.route_key is not None else ("alone", id(r)), []).append(r)
        for reqs in by_key.values():
            texts = [t for r in reqs for t in r.route_texts or ()]
            try:
                route = reqs[0].route
                assert route is not None
                decisions = list(route(texts))
                if len(decisions) != len(texts):
                    raise RuntimeError(f"the router returned {len(decisions)} decisions for {len(texts)} texts")
            except Exception as exc:  # noqa: BLE001 - one pass failed: route each request alone
                if len(reqs) == 1:
                    reqs[0].fail(exc)
                    continue
                for r in reqs:
                    try:
                        assert r.route is not None and r.route_texts is not None
                        r.decisions = list(r.route(r.route_texts))
                    except Exception as one:  # noqa: BLE001 - this request's own failure
                        r.fail(one)
                continue
            i = 0
            for r in reqs:
                r.decisions = decisions[i:i + r.size]
                i += r.size
        for r in live:
            if not r.future.done() and r.check is not None:
                try:
                    r.check(r.decisions or [])
                except Exception as exc:  # noqa: BLE001 - e.g. an adapter the backend lacks: this request fails
                    r.fail(exc)

    def _generate(self, group: list[CoalescedRequest]) -> None:
        prompts = [p for r in group for p in r.prompts]
        adapters = [d.adapter for r in group for d in r.decisions or ()]
        self.stats.generate_calls += 1
        row_errors: dict[int, Exception] = {}
        try:
            try:
                results: list[Any] = group[0].backend.generate(prompts, adapters, group[0].config)
            except PartialBatchError as partial:
                if len(partial.results) != len(prompts):
                    raise
                results, row_errors = list(partial.results), dict(partial.row_errors)
            if len(results) != len(prompts):
                raise RuntimeError(f"backend returned {len(results)} results for {len(prompts)} prompts")
        except Exception as exc:  # noqa: BLE001 - isolated below
            if len(group) == 1:
                group[0].fail(exc)
                return
            logger.info("a coalesced generate of %d calls failed (%s: %s); retrying each call alone",
                        len(group), type(exc).__name__, exc)
            self.stats.retried += 1
            for r in group:
                self._generate([r])
            return
        i = 0
        for r in group:
            try:
                mine = {j - i: e for j, e in row_errors.items() if i <= j < i + r.size}
                if not mine:
                    r.future.set_result(r.finish(r.decisions or [], list(results[i:i + r.size])))
                elif r.finish_partial is not None:
                    r.future.set_result(r.finish_partial(r.decisions or [], list(results[i:i + r.size]), mine))
                else:
                    r.fail(mine[min(mine)])
            except Exception as exc:  # noqa: BLE001 - this caller's own result handling failed
                r.fail(exc)
            i += r.size


# ---------------------------------------------------------------------- one coalescer per backend
_REG_LOCK = threading.Lock()
_BY_BACKEND: weakref.WeakKeyDictionary[Any, dict[tuple[float, int], Coalescer]] = weakref.WeakKeyDictionary()
_BY_ID: dict[int, tuple[Any, dict[tuple[float, int], Coalescer]]] = {}  # backends without weak references


def coalescer_for(backend: GenerationBackend, window_ms: float, max_batch_size: int) -> Coalescer:
    """The process-wide coalescer of this backend object with these settings (created on first use).

    Every wrapper and generator over the same backend (the runtimes of ``core.shared`` are cached per
    process) gets the same coalescer, so their concurrent calls share batches.
    """
    key = (float(window_ms), int(max_batch_size))
    with _REG_LOCK:
        try:
            table = _BY_BACKEND.get(backend)
            if table is None:
                table = _BY_BACKEND[backend] = {}
        except TypeError:  # unhashable or not weakly referenceable: keep it alive with its coalescers
            entry = _BY_ID.setdefault(id(backend), (backend, {}))
            table = entry[1]
        co = table.get(key)
        if co is None:
            co = table[key] = Coalescer(window_ms, max_batch_size)
        return co
