"""Running an iterator in a second process, so producing the next item overlaps using this one.

The demo load is CPU-bound on both sides: NumPy generates and encodes rows, then sqlite3 (in
this process) or the PostgreSQL server writes them. On two or more cores the two halves run
side by side; the pipe holds one item, so the producer stays at most one item ahead and memory
stays flat. The child is forked: it inherits the loaded modules (and a test's patched
settings) without importing anything again.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import TypeVar

T = TypeVar("T")
_DONE = "done"
_FAILED = "failed"


class ProducerFailed(RuntimeError):
    """The producing process raised; the message holds its traceback."""


def _produce(items: Iterator[object], sender: Connection) -> None:
    """Child: send every item, then a marker saying how it ended."""
    try:
        for item in items:
            sender.send(item)
        sender.send(_DONE)
    except BaseException:  # the parent re-raises it; the child only reports
        sender.send((_FAILED, traceback.format_exc()))
    finally:
        sender.close()


def _received(receiver: Connection) -> Iterator[T]:
    """Parent: the items as they arrive; the child's failure raised here."""
    while True:
        try:
            item = receiver.recv()
        except EOFError:
            raise ProducerFailed("the producing process ended without finishing") from None
        if isinstance(item, str) and item == _DONE:
            return
        if isinstance(item, tuple) and len(item) == 2 and item[0] == _FAILED:
            raise ProducerFailed(f"the producing process failed:\n{item[1]}")
        yield item


@contextmanager
def items(source: Iterator[T], separate: bool = True) -> Iterator[Iterator[T]]:
    """The source's items, produced in a forked process when `separate` (and fork exists).

    Leaving the block stops the producer, whether or not every item was taken.
    """
    if not separate or "fork" not in multiprocessing.get_all_start_methods():
        yield source
        return
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_produce, args=(source, sender), daemon=True)
    process.start()
    sender.close()
    try:
        yield _received(receiver)
    finally:
        receiver.close()
        if process.is_alive():
            process.terminate()
        process.join()
