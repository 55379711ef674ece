from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from patron.analytics.rfm import (
    NO_PURCHASE,
    SEGMENT_LABELS,
    SEGMENT_RULES,
    VALUE_CLASS_IDS,
    count_below,
    quintile_scores,
    score_rfm,
    segment_label,
    segments,
    value_class_label,
    value_classes,
)
from patron.errors import InvalidInput

NAN = float("nan")


def test_distinct_values_fill_the_quintiles_evenly() -> None:
    assert quintile_scores([50, 10, 40, 20, 30]).tolist() == [5, 1, 4, 2, 3]
    assert quintile_scores(range(10)).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_small_bases_score_by_the_share_strictly_below() -> None:
    # 3 customers: 0/3, 1/3 and 2/3 of the base below -> 1 + floor(5 * share).
    assert quintile_scores([7.0, 8.0, 9.0]).tolist() == [1, 2, 4]
    assert quintile_scores([3.0]).tolist() == [1]
    assert quintile_scores([]).tolist() == []


def test_equal_values_always_share_a_score() -> None:
    # Six one-time buyers tie at the bottom and all score 1; the next value has 6 of 10 below.
    scores = quintile_scores([0, 0, 0, 0, 0, 0, 1, 1, 2, 3])
    assert scores.tolist() == [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]
    assert quintile_scores([4.0, 4.0, 4.0]).tolist() == [1, 1, 1]


def test_the_tie_rule_ignores_input_order() -> None:
    values = np.array([5.0, 1.0, 5.0, 3.0, 1.0, 9.0, 5.0])
    order = np.array([6, 2, 0, 4, 1, 5, 3])
    assert quintile_scores(values[order]).tolist() == quintile_scores(values)[order].tolist()


def test_more_recent_means_a_higher_r_score() -> None:
    result = score_rfm([400, 3, 90, 30, 200], [1, 1, 1, 1, 1], [10, 10, 10, 10, 10])
    assert result.r_score.tolist() == [1, 5, 3, 4, 2]


def test_hand_computed_scores_and_segments() -> None:
    recency = [2, 5, 40, 60, 120, 200, 600, 500, 10, 700]
    frequency = [9, 6, 4, 0, 3, 0, 7, 0, 0, 1]
    monetary = [900, 700, 300, 50, 400, 60, 800, 20, 100, 30]
    result = score_rfm(recency, frequency, monetary)
    # Score = 1 + floor(5 x customers strictly worse / 10); for R, worse is more days.
    assert result.r_score.tolist() == [5, 5, 4, 3, 3, 2, 1, 2, 4, 1]
    # Four customers tie at frequency 0 (score 1); frequency 1 has 4 of 10 below -> 3.
    assert result.f_score.tolist() == [5, 4, 4, 1, 3, 1, 5, 1, 1, 3]
    assert result.m_score.tolist() == [5, 4, 3, 2, 4, 2, 5, 1, 3, 1]
    assert result.segment.tolist() == [
        "champions",  # R5 F5 M5
        "champions",  # R5 F4 M4
        "loyal",  # R4 F4 M3
        "promising",  # R3 F1
        "loyal",  # R3 F3
        "about_to_sleep",  # R2 F1
        "cant_lose",  # R1 F5 M5
        "about_to_sleep",  # R2 F1
        "new",  # R4 F1
        "at_risk",  # R1 F3 M1
    ]


@pytest.mark.parametrize(
    ("r", "f", "m", "segment"),
    [
        (5, 5, 5, "champions"),
        (4, 4, 3, "loyal"),
        (3, 5, 5, "loyal"),
        (5, 1, 5, "new"),
        (4, 2, 1, "potential_loyalist"),
        (3, 1, 2, "promising"),
        (3, 2, 5, "need_attention"),
        (1, 5, 4, "cant_lose"),
        (1, 5, 3, "at_risk"),
        (2, 5, 5, "at_risk"),
        (2, 2, 1, "about_to_sleep"),
        (1, 2, 5, "hibernating"),
        (1, 1, 5, "lost"),
    ],
)
def test_segment_table_first_match_wins(r: int, f: int, m: int, segment: str) -> None:
    assert segments([r], [f], [m]).tolist() == [segment]


def test_every_score_triple_has_one_of_the_eleven_segments() -> None:
    grid = np.arange(1, 6)
    r, f, m = (a.ravel() for a in np.meshgrid(grid, grid, grid, indexing="ij"))
    named = set(segments(r, f, m).tolist())
    assert named == {rule[0] for rule in SEGMENT_RULES}
    assert len(named) == 11


def test_segment_scores_out_of_range_are_refused() -> None:
    with pytest.raises(InvalidInput, match="between 1 and 5"):
        segments([0], [3], [3])


def test_value_class_recency_direction_high_r_is_fewer_days() -> None:
    # Mean recency 50: 10 days is more recent than average, so R is high.
    result = value_classes([10, 90], [5, 5], [100, 100])
    assert result.tolist() == ["important_value", "important_retain"]


def test_value_class_standard_mapping() -> None:
    # Means: recency 50, frequency 5, monetary 500. Rows walk R/F/M high-low in the scheme's order.
    recency = [10, 10, 90, 90, 10, 10, 90, 90]
    frequency = [9, 1, 9, 1, 9, 1, 9, 1]
    monetary = [900, 900, 900, 900, 100, 100, 100, 100]
    assert value_classes(recency, frequency, monetary).tolist() == list(VALUE_CLASS_IDS)
    labels = [value_class_label(v) for v in VALUE_CLASS_IDS]
    assert labels == [
        "重要价值客户",
        "重要发展客户",
        "重要保持客户",
        "重要挽留客户",
        "一般价值客户",
        "一般发展客户",
        "一般保持客户",
        "一般挽留客户",
    ]


def test_value_at_the_mean_counts_as_high() -> None:
    # Means are exactly 20 days, 2 repeat purchases and 200 spent: the middle customer is high.
    result = value_classes([10, 20, 30], [1, 2, 3], [100, 200, 300])
    assert result.tolist() == ["general_develop", "important_value", "important_retain"]


def test_customers_without_purchase_stand_apart() -> None:
    result = score_rfm([NAN, 5, 50], [0, 2, 0], [0, 300, 100])
    # Two buyers: the better one has 1 of 2 strictly below -> 1 + floor(5 / 2) = 3.
    assert result.r_score.tolist() == [0, 3, 1]
    assert result.f_score.tolist() == [0, 3, 1]
    assert result.segment[0] == NO_PURCHASE and result.value_class[0] == NO_PURCHASE
    # Non-buyers are left out of the means: recency mean 27.5, so 5 days is high.
    assert result.value_class[1:].tolist() == ["important_value", "general_winback"]
    assert segment_label(NO_PURCHASE, "en") == "No purchase"


def test_labels_in_both_locales() -> None:
    assert segment_label("champions") == "冠军客户"
    assert segment_label("cant_lose", "en") == "Can't Lose Them"
    assert segment_label("at_risk", "zh-CN") == "有流失风险"
    assert value_class_label("important_winback", "en") == "Important to win back"
    assert all(set(labels) == {"zh_CN", "en"} for labels in SEGMENT_LABELS.values())
    with pytest.raises(InvalidInput, match="not a known RFM segment"):
        segment_label("vip")
    with pytest.raises(InvalidInput, match="locale 'fr'"):
        segment_label("lost", "fr")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([1, 2], [1], [1]), "one value per customer"),
        (([-1], [1], [1]), "recency_days cannot be negative"),
        (([1], [-1], [1]), "frequency cannot be negative"),
        (([1], [NAN], [1]), "frequency is missing"),
        (([1], [1], [float("inf")]), "monetary is missing or infinite"),
        ((["a"], [1], [1]), "recency_days must hold numbers"),
        (([[1]], [[1]], [[1]]), "flat list"),
    ],
)
def test_bad_input_is_refused_plainly(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        score_rfm(*args)  # type: ignore[arg-type]


def test_empty_base_scores_nothing() -> None:
    result = score_rfm([], [], [])
    assert result.r_score.size == result.segment.size == result.value_class.size == 0


customer_bases = st.integers(1, 60).flatmap(
    lambda n: st.tuples(
        arrays(np.float64, n, elements=st.integers(0, 400).map(float)),
        arrays(np.float64, n, elements=st.integers(0, 12).map(float)),
        arrays(np.float64, n, elements=st.floats(0, 10_000, allow_nan=False)),
    )
)


@settings(max_examples=200, deadline=None)
@given(customer_bases)
def test_scores_lie_in_one_to_five(base: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    result = score_rfm(*base)
    for scores in (result.r_score, result.f_score, result.m_score):
        assert scores.min() >= 1 and scores.max() <= 5
    assert set(result.segment.tolist()) <= {rule[0] for rule in SEGMENT_RULES}
    assert set(result.value_class.tolist()) <= set(VALUE_CLASS_IDS)


@settings(max_examples=200, deadline=None)
@given(customer_bases)
def test_scores_are_monotone(base: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    recency, frequency, monetary = base
    result = score_rfm(recency, frequency, monetary)
    # Fewer days since purchase never gives a lower R; more purchases or spend never a lower F/M.
    by_recency = np.argsort(recency, kind="stable")
    assert np.all(np.diff(result.r_score[by_recency].astype(int)) <= 0)
    for values, scores in ((frequency, result.f_score), (monetary, result.m_score)):
        order = np.argsort(values, kind="stable")
        assert np.all(np.diff(scores[order].astype(int)) >= 0)
        same = values[:, None] == values[None, :]
        assert np.all((scores[:, None] == scores[None, :])[same])


@settings(max_examples=100, deadline=None)
@given(customer_bases)
def test_value_class_high_r_means_recency_at_or_below_mean(
    base: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    recency, frequency, monetary = base
    classes = score_rfm(recency, frequency, monetary).value_class
    r_low = np.isin(
        classes, ["important_retain", "important_winback", "general_retain", "general_winback"]
    )
    assert np.array_equal(r_low, recency > recency.mean())


@settings(max_examples=200, deadline=None)
@given(
    arrays(
        np.float64,
        st.integers(0, 300),
        elements=st.one_of(
            st.integers(-20, 20).map(float),
            st.sampled_from([NAN, -0.0, 0.0, 0.5, float("inf"), -float("inf"), 1e300, -1e300]),
            st.floats(allow_nan=True, allow_infinity=True),
        ),
    )
)
def test_counts_below_are_those_of_a_binary_search(values: np.ndarray) -> None:
    # Ranked by counting (whole numbers in a short range) or by one sort, each value's count
    # of values strictly below is the binary search's, NaN and signed zeros included.
    expected = np.searchsorted(np.sort(values), values, side="left")
    assert np.array_equal(count_below(values), expected)
    finite = values[~np.isnan(values)]
    below = np.searchsorted(np.sort(finite), finite, side="left")
    assert np.array_equal(
        quintile_scores(finite), (1 + 5 * below // max(len(finite), 1)).astype(np.int8)
    )


def test_counts_below_at_scale_by_counting_and_by_sorting() -> None:
    rng = np.random.default_rng(7)
    days = rng.integers(0, 2_000, 200_000).astype(np.float64)
    spend = np.round(rng.gamma(2.0, 300.0, 200_000), 2)
    for values in (days, -days, spend, np.concatenate([days, [1e12]])):
        expected = np.searchsorted(np.sort(values), values, side="left")
        assert np.array_equal(count_below(values), expected)
