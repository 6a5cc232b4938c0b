"""Save one index version, SIGKILLing this process at the K-th file-system step of the save.

``python -m tests.reliability.kill_at FOLDER VERSION K`` counts every call the persistence module makes to
os.rename / replace / fsync / mkdir / open / unlink / remove / rmdir and kills itself just before the K-th,
so K = 1, 2, ... walks a kill through every step of a save. It prints "completed N" when the save ran to
its end (N steps), which means K was past the last step.
"""
from __future__ import annotations

import os
import signal
import sys
from typing import Any

from ariadne_integrations.routing import persistence
from tests.reliability import versions

STEPS = {"rename", "replace", "fsync", "mkdir", "open", "unlink", "remove", "rmdir"}


class _KillingOs:
    def __init__(self, k: int) -> None:
        self.k, self.n = k, 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(os, name)
        if name not in STEPS:
            return real

        def step(*args: Any, **kwargs: Any) -> Any:
            self.n += 1
            if self.n == self.k:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)

        return step


def main(folder: str, version: int, k: int) -> None:
    router = versions.build(version)
    proxy = _KillingOs(k)
    persistence.os = proxy  # type: ignore[assignment]
    router.save(folder)
    print(f"completed {proxy.n}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
