"""``python -m ariadne_integrations.cli``: the same as the ``ariadne`` console script."""
from __future__ import annotations

from ariadne_integrations.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
