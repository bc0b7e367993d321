"""The training process's own CPU load and memory, measured with the standard library."""

from __future__ import annotations

import os
import resource
import sys
import time


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _physical_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:  # Linux: the current resident set
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        # Elsewhere only the peak is known: kilobytes on Linux, bytes on macOS.
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class ProcessMonitor:
    """Samples the process: CPU time over wall time since the last sample, as a share of the
    cores it may run on, and resident memory as a share of physical memory; both in [0, 1]."""

    def __init__(self) -> None:
        self._cores = _usable_cores()
        self._memory = _physical_memory_bytes()
        self._last = self._now()

    @staticmethod
    def _now() -> tuple[float, float]:
        return time.monotonic(), time.process_time()  # CPU time of all the process's threads

    def sample(self) -> tuple[float, float]:
        """(cpu_load, memory_usage) since the previous sample (or since construction)."""
        (wall_then, cpu_then), now = self._last, self._now()
        self._last = now
        elapsed = now[0] - wall_then
        load = (now[1] - cpu_then) / (elapsed * self._cores) if elapsed > 0 else 0.0
        return min(max(load, 0.0), 1.0), min(_resident_bytes() / self._memory, 1.0)
