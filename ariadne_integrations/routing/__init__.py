"""The routing engine: embedders, centroid index, route/abstain, persistence, evaluation.

Knows nothing of LangChain or LlamaIndex.
"""
