"""Counting how often a key has come up in one file, in a few bytes per row.

A 10-million-row file cannot keep a Python set of its keys, so the keys seen so far live in
sorted numpy arrays of 64-bit integers (8 bytes each) searched with `searchsorted`; only the
rare keys seen more than once are kept in a dict with their count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

_MERGE_AFTER_RUNS = 16


class OccurrenceCounter:
    """Numbers each occurrence of a key: 1 the first time it appears, 2 the next, and so on."""

    def __init__(self) -> None:
        self._main: NDArray[np.uint64] = np.empty(0, dtype=np.uint64)
        self._runs: list[NDArray[np.uint64]] = []
        self._repeats: dict[int, int] = {}

    def occurrences(self, keys: list[int] | NDArray[np.uint64]) -> list[int]:
        """The occurrence number of each key, counting every key passed in earlier calls."""
        if isinstance(keys, np.ndarray):
            batch = keys
        else:
            batch = np.fromiter(keys, dtype=np.uint64, count=len(keys))
        distinct = np.unique(batch)
        if len(distinct) == len(batch) and not self._contains(distinct).any():
            # The usual case: every key is new. No per-key counting needed, and the keys are
            # looked up sorted, which is several times faster than in file order.
            self._add_run(distinct)
            return [1] * len(keys)
        found = self._contains(batch)
        seen_before = found.tolist()
        counts: dict[int, int] = {}
        numbers = []
        for key, before in zip(batch.tolist(), seen_before, strict=True):
            current = counts.get(key)
            if current is None:
                current = self._repeats.get(key, 1 if before else 0)
            counts[key] = current + 1
            numbers.append(current + 1)
        self._remember(batch[~found], counts)
        return numbers

    def _contains(self, batch: NDArray[np.uint64]) -> NDArray[np.bool_]:
        found = np.zeros(len(batch), dtype=bool)
        for run in (self._main, *self._runs):
            if len(run):
                where = np.minimum(np.searchsorted(run, batch), len(run) - 1)
                found |= run[where] == batch
        return found

    def _remember(self, new: NDArray[np.uint64], counts: dict[int, int]) -> None:
        for key, count in counts.items():
            if count > 1:
                self._repeats[key] = count
        self._add_run(np.unique(new))

    def _add_run(self, distinct: NDArray[np.uint64]) -> None:
        """Keep sorted distinct new keys; merge the runs into the main array now and then."""
        self._runs.append(distinct)
        if len(self._runs) >= _MERGE_AFTER_RUNS:
            # The runs hold disjoint sorted keys; timsort ("stable") merges them in linear time.
            self._main = np.sort(np.concatenate([self._main, *self._runs]), kind="stable")
            self._runs = []


def key_of(text: str) -> int:
    """A 64-bit key from the first 16 hex digits of an md5."""
    return int(text[:16], 16)


@dataclass
class Identities:
    """Occurrence counts across one file: for derived ids, and for explicit ids given twice."""

    derived: OccurrenceCounter = field(default_factory=OccurrenceCounter)
    explicit: OccurrenceCounter = field(default_factory=OccurrenceCounter)
