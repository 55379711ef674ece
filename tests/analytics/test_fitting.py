"""The shared fitting helpers: grouping whole numbers by counting gives what sorting gives."""

from __future__ import annotations

import numpy as np
import pytest

from patron.analytics import fitting
from patron.analytics.fitting import group_index


def _sorted_groups(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    distinct, index = np.unique(values, return_inverse=True)
    return distinct, index.astype(np.intp)


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(3).integers(0, 547, 50_000).astype(np.float64),  # days
        np.random.default_rng(4).integers(0, 5, 17).astype(np.float64)[::2],  # a strided view
        np.array([3.0, 1.0, 1.0, 0.0, 3.0]),
        np.array([0.0]),
        np.array([float(fitting.COUNTING_LIMIT - 1), 2.0]),
    ],
)
def test_whole_numbers_are_grouped_by_counting_as_np_unique_groups_them(
    values: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _sorted_groups(values)

    def no_sort(*args: object, **kwargs: object) -> None:
        raise AssertionError("whole numbers should be grouped without sorting")

    monkeypatch.setattr(fitting.np, "unique", no_sort)
    distinct, index = group_index(values)
    assert distinct.dtype == np.float64 and index.dtype == np.intp
    assert np.array_equal(distinct, expected[0])
    assert np.array_equal(index, expected[1])


@pytest.mark.parametrize(
    "values",
    [
        np.array([0.5, 2.0, 0.5]),  # not whole
        np.array([-0.0, 1.0, 0.0]),  # np.unique's own choice of zero is kept
        np.array([-1.0, 2.0]),
        np.array([float(fitting.COUNTING_LIMIT), 1.0]),
        np.array([np.nan, 1.0]),
        np.array([]),
    ],
)
def test_other_values_are_grouped_by_np_unique(values: np.ndarray) -> None:
    distinct, index = group_index(values)
    expected = _sorted_groups(values)
    assert np.array_equal(distinct, expected[0], equal_nan=True)
    assert np.array_equal(np.signbit(distinct), np.signbit(expected[0]))
    assert np.array_equal(index, expected[1])
