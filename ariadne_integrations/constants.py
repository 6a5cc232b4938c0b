"""One home for the names and defaults every layer shares (so traces, files and docs agree).

Glossary (see docs/ARCHITECTURE.md): an *adapter* is what the router chooses and the runtime
applies; the routing engine calls the same thing a *route target* nowhere else. The data files'
``task`` field names the adapter a row belongs to (the benchmark data's convention).
"""
from __future__ import annotations

BASE_ADAPTER = "__base__"
"""Adapter name meaning "the bare backbone, no adapter" (peft's own spelling for mixed batches)."""

DEFAULT_BACKBONE_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
"""The embedded default backbone's hub id: the one name reported in traces, metadata and adapter files."""

DEFAULT_MAX_NEW_TOKENS = 64
"""Default completion length of every wrapper (LangChain and LlamaIndex alike)."""

# Files of an adapter folder written by ``ariadne train`` (beside peft's own files).
ADAPTER_TASK_FILE = "ariadne_task.json"
ADAPTER_INPUTS_FILE = "ariadne_inputs.jsonl"
PEFT_CONFIG_FILE = "adapter_config.json"
PEFT_WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")

# Files of a routing index folder.
INDEX_META_FILE = "index.json"
INDEX_CENTROIDS_FILE = "centroids.safetensors"

# Request coalescing (core/coalescing.py): concurrent calls on one backend share one generate call.
DEFAULT_COALESCE_WINDOW_MS = 20.0
"""How long a forming batch waits for another concurrent call (0 turns coalescing off)."""
DEFAULT_MAX_BATCH_SIZE = 32
"""Most prompts one coalesced generate call takes (a single larger call still runs whole)."""
