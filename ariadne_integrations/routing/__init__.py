"""The routing engine: embedders, centroid index, decision rule, calibration, persistence, evaluation.

- ``centroid_index.CentroidIndex``: the adapters' centroids as one immutable, scorable value;
- ``decision.decide`` (and ``rank``, ``abstentions``): scores -> ``RouteDecision``s, pure functions;
- ``calibration``: choosing the abstention threshold from held-out data;
- ``persistence``: index folders on disk; ``router.AriadneRouter`` ties these together;
- ``evaluate`` measures a router, ``plots`` draws the results (matplotlib, imported lazily).

Knows nothing of LangChain or LlamaIndex.
"""
