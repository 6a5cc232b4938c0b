"""Silence transformers' per-tensor "Loading weights" progress bar while we load a model for the user.

Why: transformers 5 draws one bar per ``from_pretrained`` (every call of a wrapper's first use, every notebook
cell that loads the embedder or the backbone); it reports nothing a user can act on, and our own progress bars
(indexing, training, benchmarks) are the ones that matter. Only that bar is switched off, only during our loads,
and the user's setting is restored afterwards (a counter keeps nested or concurrent loads right).
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = True


@contextmanager
def quiet_weight_loading() -> Iterator[None]:
    """Within the block, transformers' progress bars are off (restored on exit, even on error)."""
    global _depth, _was_enabled
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # transformers absent: nothing draws the bar
        yield
        return
    with _lock:
        if _depth == 0:
            _was_enabled = hf_logging.is_progress_bar_enabled()
            if _was_enabled:
                hf_logging.disable_progress_bar()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                hf_logging.enable_progress_bar()


@contextmanager
def quiet_peft_wrap() -> Iterator[None]:
    """Silence exactly the FutureWarning transformers 5 raises when peft wraps a model.

    peft's ``PeftModel.__init__`` reads ``model.is_gradient_checkpointing``, which transformers 5 deprecates; the
    warning is about peft's code, not the user's, and would print on every adapter load and training run.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield
