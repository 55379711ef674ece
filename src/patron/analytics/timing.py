"""Seconds per step of a run, wall-clock and CPU, so a benchmark can say where the time goes.

CPU time is this process's, all threads: on a shared machine it says what a step costs when
the wall clock mostly says how long it queued for a core.
"""

from __future__ import annotations

from time import perf_counter, process_time


class Stopwatch:
    """Adds the time since the last lap (or the start) to the named step."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}
        self._last = perf_counter()
        self._last_cpu = process_time()

    def lap(self, step: str) -> None:
        """Charge the time since the previous lap to `step`."""
        moment, cpu = perf_counter(), process_time()
        self.seconds[step] = self.seconds.get(step, 0.0) + moment - self._last
        self.cpu_seconds[step] = self.cpu_seconds.get(step, 0.0) + cpu - self._last_cpu
        self._last, self._last_cpu = moment, cpu
