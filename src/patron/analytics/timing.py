"""Wall-clock seconds per step of a run, so a benchmark can say where the time goes."""

from __future__ import annotations

from time import perf_counter


class Stopwatch:
    """Adds the time since the last lap (or the start) to the named step."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = perf_counter()

    def lap(self, step: str) -> None:
        """Charge the time since the previous lap to `step`."""
        moment = perf_counter()
        self.seconds[step] = self.seconds.get(step, 0.0) + moment - self._last
        self._last = moment
