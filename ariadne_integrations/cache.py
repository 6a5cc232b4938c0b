"""Where the package keeps what it derives from local models (converted backbones, exported encoders).

Shared by the routing engine and the runtime, so neither imports the other for a folder name.
"""
from __future__ import annotations

import os
from pathlib import Path


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir``, else $ARIADNE_CACHE_DIR, else ~/.cache/ariadne-integrations."""
    root = cache_dir or os.environ.get("ARIADNE_CACHE_DIR")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "ariadne-integrations"
