"""The result of routing one query; shared by the engine and every integration."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class RouteDecision:
    """Which adapter a query goes to, and how sure the router is.

    ``adapter`` is ``None`` when the router abstained (the backbone alone should answer).
    ``score`` is the best adapter's similarity, ``margin`` its lead over the runner-up
    (``inf``-free: a single-adapter index reports margin = score). ``scores`` maps every
    adapter in the index to its similarity, so callers can rank or threshold themselves.
    """

    adapter: str | None
    score: float
    margin: float
    scores: dict[str, float] = field(default_factory=dict)
    abstained: bool = False
    best: str | None = None  # top-scoring adapter even when abstained
    runner_up: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def ranked(self) -> list[tuple[str, float]]:
        """Adapters sorted by score, best first."""
        return sorted(self.scores.items(), key=lambda kv: kv[1], reverse=True)
