"""The Runner protocol: run a batch of trial requests somewhere, hand back results as they come.

The local process runner (runner/local.py) is one; a Ray cluster is another (runner/ray.py).
Strategies (search/) and verbs only talk to this protocol, so where trials run is a choice of
runner, never a change to the search.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from workbench.core.records import TrialRequest, TrialResult

OnResult = Callable[[int, TrialResult], None]  # (index of the request, its result)
OnProgress = Callable[[str], None]


class Runner(Protocol):
    """Runs trial requests; results stream to `on_result` in the order they finish."""

    name: str

    def run(
        self,
        requests: list[TrialRequest],
        *,
        on_result: OnResult | None = None,
        cancel: threading.Event | None = None,
        progress: OnProgress | None = None,
    ) -> list[TrialResult]:
        """Every request's result, in request order (a lost one is a classified failure)."""
        ...

    def available_parallelism(self, mode: str) -> int:
        """How many requests of `mode` ("compile", "interpreter", "gpu") run at once."""
        ...

    def close(self) -> None:
        """End every worker this runner started."""
        ...
