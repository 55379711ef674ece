"""The next batch is prepared in a thread while this one is written: order, errors, stopping."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from patron.errors import FileUnreadable
from patron.imports.pipeline import ahead


def test_items_arrive_in_order_from_another_thread() -> None:
    threads: set[str] = set()

    def produce() -> Iterator[int]:
        for n in range(50):
            threads.add(threading.current_thread().name)
            yield n

    assert list(ahead(produce())) == list(range(50))
    assert threads == {"patron-import-parse"}


def test_an_error_while_preparing_reaches_the_writer_after_the_good_batches() -> None:
    def produce() -> Iterator[int]:
        yield 1
        yield 2
        raise FileUnreadable("orders.csv is not valid utf-8 text")

    seen = []
    with pytest.raises(FileUnreadable, match="not valid utf-8"):
        for item in ahead(produce()):
            seen.append(item)
    assert seen == [1, 2]


def test_a_writer_that_fails_stops_the_producer() -> None:
    produced = []

    def produce() -> Iterator[int]:
        for n in range(1_000_000):
            produced.append(n)
            yield n

    with pytest.raises(RuntimeError):
        for item in ahead(produce()):
            if item == 3:
                raise RuntimeError("disk full")
    before = len(produced)
    assert before < 10
    assert not [t for t in threading.enumerate() if t.name == "patron-import-parse"]
