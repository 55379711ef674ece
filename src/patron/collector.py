"""Python's cyclic garbage collector, paused while a request or an import builds large batches.

A bulk request holds tens of thousands of objects (an order model, a tuple, a row per order)
until it answers, none in a cycle: reference counting frees them all at its end. Left on, the
collector walks them as they pile up and, once enough have outlived two collections, walks
the whole server's heap too (the app, the pinyin dictionaries: about 0.2 s each time), every
other 5,000-order batch. Paused, it does neither; what other threads leave in cycles meanwhile
is collected after.

The pause is counted: batches that overlap in a server's threads keep it off until the last
one ends, and it is turned back on only if it was on when the first began. The collector is
the whole process's, so a pause kept up by batches that always overlap would leave every
other request's cycles in memory: once it has lasted `LONGEST_PAUSE` seconds, the batch that
ends collects everything and the pause starts over.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

LONGEST_PAUSE = 5.0

_lock = threading.Lock()
_holders = 0
_was_enabled = False
_since = 0.0


@contextmanager
def paused() -> Iterator[None]:
    """The collector off inside the block (and while any other `paused` block runs)."""
    global _holders, _was_enabled, _since
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
            _since = time.monotonic()
        _holders += 1
    try:
        yield
    finally:
        overdue = False
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
            elif _was_enabled and time.monotonic() - _since > LONGEST_PAUSE:
                overdue = True
                _since = time.monotonic()
        if overdue:
            gc.collect()
