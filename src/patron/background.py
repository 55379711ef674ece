"""Running an iterator in a second process, so producing the next item overlaps using this one.

The demo load and the orders import are CPU-bound on both sides: one half makes rows (NumPy
generating them, or a file parsed and hashed), the other writes them (sqlite3 in this process,
or the PostgreSQL server). On two or more cores the two halves run side by side; the pipe holds
one item, so the producer stays at most one item ahead and memory stays flat. The child is
forked: it inherits the loaded modules (and a test's patched settings) without importing
anything again, so only a process with no other threads at work should ask for it (a thread
holding a lock at the fork leaves that lock held for ever in the child).

A Patron error raised while producing (a file that cannot be read past row 5,000,000, say)
reaches the consumer as itself, with its message; anything else as `ProducerFailed` with the
child's traceback. If the consumer dies (`kill -9`), the child's next send fails and it ends.
"""

from __future__ import annotations

import io
import multiprocessing
import pickle
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TypeVar

from patron.errors import PatronError

T = TypeVar("T")


class ProducerFailed(RuntimeError):
    """The producing process raised; the message holds its traceback."""


class _Done:
    """The producer's last message: every item was sent."""


@dataclass
class _Failed:
    """The producer's last message when it raised: the error itself, or its traceback."""

    error: PatronError | str


def _produce(items: Iterator[object], receiver: Connection, sender: Connection) -> None:
    """Child: send every item, then a marker saying how it ended."""
    # The parent's end, inherited by the fork: left open here, the child would be a reader of
    # its own pipe, and with the parent killed it would block on a full pipe for ever.
    receiver.close()
    try:
        for item in items:
            sender.send_bytes(_pickled(item))
        sender.send(_Done())
    except (BrokenPipeError, ConnectionResetError):
        pass  # the parent is gone: there is no one left to tell
    except BaseException as error:  # the parent re-raises it; the child only reports
        with suppress(OSError):
            sender.send(_Failed(_portable(error)))
    finally:
        sender.close()


def _pickled(item: object) -> bytes:
    """The item pickled without the memo: each object written out in full, even when it
    comes up again (a batch's repeated strings are not shared once rebuilt).

    A batch of orders is a few hundred thousand small objects, and the memo is a table of
    every one of them: pickling without it takes a third of the time, in the process that
    is the slower of the two. (`fast` is marked deprecated but kept; a cyclic item is
    refused with a ValueError past 50 levels of nesting, not pickled for ever.)
    """
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    pickler.dump(item)
    return buffer.getvalue()


def _portable(error: BaseException) -> PatronError | str:
    """A Patron error as itself when it survives pickling; anything else as its traceback."""
    if isinstance(error, PatronError):
        with suppress(Exception):
            pickle.loads(pickle.dumps(error))
            return error
    return traceback.format_exc()


def _received(receiver: Connection) -> Iterator[T]:
    """Parent: the items as they arrive; the child's failure raised here."""
    while True:
        try:
            item = receiver.recv()
        except EOFError:
            raise ProducerFailed("the producing process ended without finishing") from None
        except Exception as error:  # sent, but not rebuilt here: a fault in the item's class
            message = f"an item from the producing process is unreadable: {error}"
            raise ProducerFailed(message) from error
        if isinstance(item, _Done):
            return
        if isinstance(item, _Failed):
            if isinstance(item.error, PatronError):
                raise item.error
            raise ProducerFailed(f"the producing process failed:\n{item.error}")
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
    process = context.Process(target=_produce, args=(source, receiver, sender), daemon=True)
    process.start()
    sender.close()
    try:
        yield _received(receiver)
    finally:
        receiver.close()
        if process.is_alive():
            process.terminate()
        process.join()
