"""Builders for the demo tests: a fixed end date so every run sees the same data."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from patron.demo.generator import DemoChunk, DemoSpec, generate

END = datetime(2025, 6, 30, 18, 0, 0)


def make_spec(**changes: object) -> DemoSpec:
    """A small demo spec ending on a fixed day."""
    values: dict[str, object] = {"end": END, "customers": 2_000, "seed": 7}
    values.update(changes)
    return DemoSpec(**values)  # type: ignore[arg-type]


def days_before_end(moments: np.ndarray) -> np.ndarray:
    """How many days before the end each moment lies."""
    end = np.datetime64(END, "s")
    return (end - moments.astype("datetime64[s]")).astype(np.int64) / 86_400


@pytest.fixture(scope="module")
def chunk() -> DemoChunk:
    """One generated chunk of 2,000 customers (zh_CN)."""
    return next(generate(make_spec()))
