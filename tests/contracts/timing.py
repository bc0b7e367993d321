"""Wall-clock limits that hold on a shared machine: the best of a few runs counts.

Upstream timed one cold run (reference 6.12), which fails whenever a neighbour is busy; the
best of three, after the first run warmed the caches, measures the code instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def best_of(work: Callable[[], Any], runs: int = 3) -> float:
    """The shortest of ``runs`` timings of ``work()``, in seconds."""
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        timings.append(time.perf_counter() - start)
    return min(timings)
