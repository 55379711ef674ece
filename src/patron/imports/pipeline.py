"""Preparing the next batch while this one is written: a producer thread, one batch ahead.

Parsing is Python and holds the GIL; SQLite's insert of a whole batch is one statement that
does not (`order_store.insert_rows`), so the two overlap on a second core.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def ahead(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Yield `items` as a background thread produces them, at most `depth` ahead.

    An exception in the producer is raised here, in the consumer, in order. A consumer that
    stops early (or fails) stops the producer before returning.
    """
    handoff: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                handoff.put((item, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            handoff.put((_DONE, exc))
            return
        handoff.put((_DONE, None))

    producer = threading.Thread(target=produce, name="patron-import-parse", daemon=True)
    producer.start()
    try:
        while True:
            item, error = handoff.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while producer.is_alive():
            # Unblock a producer waiting for room, then let it see `stop`.
            with contextlib.suppress(queue.Empty):
                handoff.get_nowait()
            producer.join(timeout=0.05)
