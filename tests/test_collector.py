"""The collector pause of bulk requests: counted across overlapping requests, and it leaves
the collector as it found it."""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any

import pytest

from patron import collector


def test_overlapping_pauses_keep_the_collector_off_until_the_last_ends() -> None:
    assert gc.isenabled()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def second() -> None:
        first_in.wait()
        with collector.paused():
            second_in.set()
            first_out.wait()
            seen.append(gc.isenabled())  # the first has ended: still off for this one

    thread = threading.Thread(target=second)
    thread.start()
    with collector.paused():
        first_in.set()
        second_in.wait()
        seen.append(gc.isenabled())
    first_out.set()
    thread.join()
    assert seen == [False, False]
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_pause_kept_up_by_overlapping_batches_still_collects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(collector, "LONGEST_PAUSE", 0.0)
    holding, release = threading.Event(), threading.Event()

    def other_batch() -> None:
        with collector.paused():
            holding.set()
            release.wait()

    thread = threading.Thread(target=other_batch)
    thread.start()
    try:
        holding.wait()
        with collector.paused():
            cycle: list[Any] = []
            left = weakref.ref(_Box(cycle))
            del cycle
        # The other batch still holds the pause, but this one ended past the longest pause.
        assert left() is None
        assert not gc.isenabled()
    finally:
        release.set()
        thread.join()
    assert gc.isenabled()


class _Box:
    """A cycle through an object a weak reference can watch."""

    def __init__(self, cycle: list[Any]) -> None:
        self.cycle = cycle
        cycle.append(self)
