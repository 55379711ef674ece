"""Producing items in a forked second process: order kept, errors carried over, and a child
that never outlives its parent's death."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from patron import background
from patron.errors import FileUnreadable


def _numbers(count: int) -> Iterator[tuple[int, int]]:
    for n in range(count):
        yield n, os.getpid()


def _failing(error: BaseException) -> Iterator[int]:
    yield 1
    raise error


def test_items_come_in_order_from_another_process() -> None:
    with background.items(_numbers(1000)) as items:
        received = list(items)
    assert [n for n, _ in received] == list(range(1000))
    assert {pid for _, pid in received} != {os.getpid()}


def test_without_separate_the_items_are_made_here() -> None:
    with background.items(_numbers(3), separate=False) as items:
        assert {pid for _, pid in items} == {os.getpid()}


def test_a_patron_error_arrives_as_itself() -> None:
    error = FileUnreadable("orders.csv: row 5,000,001 is not text", detail={"row": 5_000_001})
    with background.items(_failing(error)) as items, pytest.raises(FileUnreadable) as raised:
        list(items)
    assert raised.value.message == error.message
    assert raised.value.detail == {"row": 5_000_001}


def test_any_other_error_arrives_with_the_childs_traceback() -> None:
    failing = _failing(ZeroDivisionError("no"))
    with (
        background.items(failing) as items,
        pytest.raises(background.ProducerFailed, match="ZeroDivisionError: no"),
    ):
        list(items)


def _refused() -> None:
    raise ValueError("cannot be rebuilt")


class _Unreadable:
    def __reduce__(self) -> tuple[object, tuple[()]]:
        return _refused, ()


def test_an_item_that_cannot_be_rebuilt_fails_plainly() -> None:
    with (
        background.items(iter([_Unreadable()])) as items,
        pytest.raises(background.ProducerFailed, match="unreadable: cannot be rebuilt"),
    ):
        list(items)


def test_leaving_early_stops_the_producer() -> None:
    endless = _numbers(10**12)
    with background.items(endless) as items:
        first = next(items)
    assert first[0] == 0
    _gone(first[1])


_PARENT = textwrap.dedent(
    """
    import itertools, sys, time
    from patron import background

    def endless():
        for n in itertools.count():
            yield n, b"x" * 4096  # the pipe fills in a few items

    with background.items(endless()) as items:
        next(items)
        for child in __import__("multiprocessing").active_children():
            print(child.pid, flush=True)
        time.sleep(600)
    """
)


def test_a_killed_parents_producer_ends_too() -> None:
    """With the parent gone, the child's next send fails: it must not wait for ever on a
    pipe that it, holding the parent's end too, would keep open."""
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    _gone(child)


def _gone(pid: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"process {pid} outlived its parent")


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.split(") ", 1)[1][0] != "Z"
