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


_rng = np.random.default_rng(5)


@pytest.mark.parametrize(
    "columns",
    [
        # (purchases, days): the pairs of Pareto/NBD's tail integral.
        (_rng.poisson(3, 40_000).astype(np.float64), _rng.integers(0, 1_096, 40_000) * 1.0),
        (np.array([2.0, -0.0, 2.0, 0.0] * 3), np.array([1.0, 0.0, 1.0, 2.0] * 3)),
        (_rng.integers(0, 9, 31)[::3] * 1.0, _rng.integers(0, 4, 31)[::3] * 1.0),
        (np.array([0.0]), np.array([-0.0])),
        (
            _rng.integers(0, 3, 600) * 1.0,
            _rng.integers(0, 5, 600) * 1.0,
            _rng.integers(0, 4, 600) * 1.0,
        ),
    ],
)
def test_rows_of_small_whole_numbers_are_counted_as_sorting_groups_them(
    columns: tuple[np.ndarray, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as sorting:
        sorting.setattr(fitting, "COUNTING_LIMIT", 0)
        expected = fitting.unique_rows(*columns)

    def no_sort(*args: object, **kwargs: object) -> None:
        raise AssertionError("small whole numbers should be grouped without sorting")

    monkeypatch.setattr(fitting.np, "unique", no_sort)
    unique, index, counts = fitting.unique_rows(*columns)
    assert len(unique) == len(expected[0])
    for column, sorted_column in zip(unique, expected[0], strict=True):
        assert column.dtype == np.float64
        assert np.array_equal(column, sorted_column)
        assert np.array_equal(np.signbit(column), np.signbit(sorted_column))
    assert index.dtype == np.intp and np.array_equal(index, expected[1])
    assert counts.dtype == np.float64 and np.array_equal(counts, expected[2])


def test_rows_already_distinct_and_in_order_are_not_sorted_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(6)
    columns = [rng.integers(0, 40, 5_000) * 1.0, rng.integers(0, 900, 5_000) * 1.0]
    columns.append(columns[1] + rng.integers(0, 900, 5_000))
    (x, t_x, ages), _, _ = fitting.unique_rows(*columns)

    def no_sort(*args: object, **kwargs: object) -> None:
        raise AssertionError("distinct rows in order should not be sorted again")

    monkeypatch.setattr(fitting.np, "unique", no_sort)
    unique, index, counts = fitting.unique_rows(x, t_x, ages)
    assert all(np.array_equal(a, b) for a, b in zip(unique, (x, t_x, ages), strict=True))
    assert index.dtype == np.intp and np.array_equal(index, np.arange(len(x)))
    assert counts.dtype == np.float64 and np.array_equal(counts, np.ones(len(x)))
