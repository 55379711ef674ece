"""RFM quintile scores, the 11 named RFM segments and the Chinese 8-class value scheme.

Pure NumPy, no database: one call scores a whole customer base with no per-customer loop.
The rules (tie handling, the recency direction, the segment table) are written out in
docs/rfm.md; the constants below are that table in code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from patron.errors import InvalidInput

Locale = Literal["zh_CN", "en"]
FloatArray = npt.NDArray[np.float64]
ScoreArray = npt.NDArray[np.int8]
IdArray = npt.NDArray[np.str_]

NO_PURCHASE = "no_purchase"
SCORE_LEVELS = 5
# Whole-number scores spanning fewer values than this are ranked by counting.
_COUNTING_LIMIT = 1 << 22

# (id, R range, F range, M range), each range inclusive; the first matching row wins.
SEGMENT_RULES: tuple[tuple[str, tuple[int, int], tuple[int, int], tuple[int, int]], ...] = (
    ("champions", (4, 5), (4, 5), (4, 5)),
    ("loyal", (3, 5), (3, 5), (1, 5)),
    ("new", (4, 5), (1, 1), (1, 5)),
    ("potential_loyalist", (4, 5), (2, 2), (1, 5)),
    ("promising", (3, 3), (1, 1), (1, 5)),
    ("need_attention", (3, 3), (2, 2), (1, 5)),
    ("cant_lose", (1, 1), (4, 5), (4, 5)),
    ("at_risk", (1, 2), (3, 5), (1, 5)),
    ("about_to_sleep", (2, 2), (1, 2), (1, 5)),
    ("hibernating", (1, 1), (2, 2), (1, 5)),
    ("lost", (1, 1), (1, 1), (1, 5)),
)

SEGMENT_LABELS: dict[str, dict[Locale, str]] = {
    "champions": {"zh_CN": "冠军客户", "en": "Champions"},
    "loyal": {"zh_CN": "忠诚客户", "en": "Loyal Customers"},
    "potential_loyalist": {"zh_CN": "潜力客户", "en": "Potential Loyalist"},
    "new": {"zh_CN": "新客户", "en": "New Customers"},
    "promising": {"zh_CN": "有潜力", "en": "Promising"},
    "need_attention": {"zh_CN": "需要关注", "en": "Need Attention"},
    "about_to_sleep": {"zh_CN": "即将沉睡", "en": "About To Sleep"},
    "at_risk": {"zh_CN": "有流失风险", "en": "At Risk"},
    "cant_lose": {"zh_CN": "不能失去", "en": "Can't Lose Them"},
    "hibernating": {"zh_CN": "沉睡客户", "en": "Hibernating"},
    "lost": {"zh_CN": "已流失", "en": "Lost"},
    NO_PURCHASE: {"zh_CN": "未购买", "en": "No purchase"},
}

# Ordered so that the index is 4*(M low) + 2*(R low) + (F low): see value_classes().
VALUE_CLASS_IDS: tuple[str, ...] = (
    "important_value",
    "important_develop",
    "important_retain",
    "important_winback",
    "general_value",
    "general_develop",
    "general_retain",
    "general_winback",
)

VALUE_CLASS_LABELS: dict[str, dict[Locale, str]] = {
    "important_value": {"zh_CN": "重要价值客户", "en": "Important value"},
    "important_develop": {"zh_CN": "重要发展客户", "en": "Important to develop"},
    "important_retain": {"zh_CN": "重要保持客户", "en": "Important to retain"},
    "important_winback": {"zh_CN": "重要挽留客户", "en": "Important to win back"},
    "general_value": {"zh_CN": "一般价值客户", "en": "General value"},
    "general_develop": {"zh_CN": "一般发展客户", "en": "General to develop"},
    "general_retain": {"zh_CN": "一般保持客户", "en": "General to retain"},
    "general_winback": {"zh_CN": "一般挽留客户", "en": "General to win back"},
    NO_PURCHASE: {"zh_CN": "未购买", "en": "No purchase"},
}


@dataclass(frozen=True)
class RfmResult:
    """Per-customer scores (0 means no purchase), segment ids and value class ids."""

    r_score: ScoreArray
    f_score: ScoreArray
    m_score: ScoreArray
    segment: IdArray
    value_class: IdArray


def score_rfm(
    recency_days: npt.ArrayLike,
    frequency: npt.ArrayLike,
    monetary: npt.ArrayLike,
) -> RfmResult:
    """Score every customer; a NaN recency_days marks a customer with no purchase."""
    recency, freq, money = _validated(recency_days, frequency, monetary)
    bought = ~np.isnan(recency)
    r = np.zeros(recency.shape, dtype=np.int8)
    f = np.zeros(recency.shape, dtype=np.int8)
    m = np.zeros(recency.shape, dtype=np.int8)
    # Fewer days since the last purchase is better, so R ranks the negated recency.
    r[bought] = quintile_scores(-recency[bought])
    f[bought] = quintile_scores(freq[bought])
    m[bought] = quintile_scores(money[bought])
    segment = np.full(recency.shape, NO_PURCHASE, dtype=_id_dtype(SEGMENT_LABELS))
    segment[bought] = segments(r[bought], f[bought], m[bought])
    value_class = np.full(recency.shape, NO_PURCHASE, dtype=_id_dtype(VALUE_CLASS_LABELS))
    value_class[bought] = value_classes(recency[bought], freq[bought], money[bought])
    return RfmResult(r_score=r, f_score=f, m_score=m, segment=segment, value_class=value_class)


def quintile_scores(values: npt.ArrayLike) -> ScoreArray:
    """Scores 1-5 where higher is better: 1 + floor(5 x share of customers strictly below)."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return np.zeros(0, dtype=np.int8)
    # The count strictly below depends only on the value, so equal values share a score.
    below = count_below(array)
    return (1 + (SCORE_LEVELS * below) // array.size).astype(np.int8)


def count_below(array: FloatArray) -> npt.NDArray[np.intp]:
    """How many values lie strictly below each one: `np.searchsorted(np.sort(array), array)`
    (NaN, sorted last, counting the values before the first NaN) without a binary search per
    value, whose scattered reads took most of the time at a million customers."""
    size = array.size
    low, high = (float(array.min()), float(array.max())) if size else (0.0, 0.0)
    if size and high - low < min(4 * size, _COUNTING_LIMIT) and _whole(array):
        # Whole numbers in a short range (days, purchase counts): counted, not sorted.
        offset = (array - low).astype(np.intp)
        counts = np.bincount(offset)
        return np.asarray((np.cumsum(counts) - counts)[offset], dtype=np.intp)
    order = np.argsort(array, kind="stable")
    ordered = array[order]
    # Each value's count is the position where its run of equal values starts in sort order.
    starts = np.empty(size, dtype=bool)
    starts[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    nan = np.isnan(ordered)
    starts[1:] &= ~(nan[1:] & nan[:-1])
    first = np.where(starts, np.arange(size), 0)
    np.maximum.accumulate(first, out=first)
    below = np.empty(size, dtype=np.intp)
    below[order] = first
    return below


def _whole(array: FloatArray) -> bool:
    """Finite whole numbers only (no NaN: its comparisons are all false)."""
    return bool(np.isfinite(array).all() and (np.floor(array) == array).all())


def segments(r_score: npt.ArrayLike, f_score: npt.ArrayLike, m_score: npt.ArrayLike) -> IdArray:
    """The named segment of each (R, F, M) score triple, each score in 1-5."""
    r, f, m = (np.asarray(s, dtype=np.int64) for s in (r_score, f_score, m_score))
    for name, scores in (("R", r), ("F", f), ("M", m)):
        if scores.size and (scores.min() < 1 or scores.max() > SCORE_LEVELS):
            raise InvalidInput(f"{name} scores must lie between 1 and {SCORE_LEVELS}")
    return _SEGMENT_GRID[r - 1, f - 1, m - 1]


def value_classes(
    recency_days: npt.ArrayLike, frequency: npt.ArrayLike, monetary: npt.ArrayLike
) -> IdArray:
    """The 8-class value scheme: each measure split at its mean, a value at the mean is high."""
    recency, freq, money = (
        np.asarray(a, dtype=np.float64) for a in (recency_days, frequency, monetary)
    )
    if recency.size == 0:
        return np.asarray([], dtype=_id_dtype(VALUE_CLASS_LABELS))
    # High R means more recent than average: fewer days since the last purchase.
    r_high = recency <= recency.mean()
    f_high = freq >= freq.mean()
    m_high = money >= money.mean()
    index = 4 * (~m_high).astype(np.int64) + 2 * (~r_high) + (~f_high)
    classes: IdArray = _VALUE_CLASS_ARRAY[index]
    return classes


def segment_label(segment_id: str, locale: str = "zh_CN") -> str:
    """The display name of an RFM segment id in zh_CN (or zh-CN) or en."""
    return _label(SEGMENT_LABELS, segment_id, locale, "RFM segment")


def value_class_label(value_class_id: str, locale: str = "zh_CN") -> str:
    """The display name of a value class id in zh_CN (or zh-CN) or en."""
    return _label(VALUE_CLASS_LABELS, value_class_id, locale, "value class")


def _label(table: dict[str, dict[Locale, str]], key: str, locale: str, what: str) -> str:
    if key not in table:
        raise InvalidInput(f"'{key}' is not a known {what} (known: {', '.join(table)})")
    normalised = locale.replace("-", "_")
    if normalised not in ("zh_CN", "en"):
        raise InvalidInput(f"locale '{locale}' is not supported (use zh_CN or en)")
    return table[key]["zh_CN" if normalised == "zh_CN" else "en"]


def _validated(
    recency_days: npt.ArrayLike, frequency: npt.ArrayLike, monetary: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    arrays = tuple(
        _float_array(values, name)
        for values, name in (
            (recency_days, "recency_days"),
            (frequency, "frequency"),
            (monetary, "monetary"),
        )
    )
    recency, freq, money = arrays
    if not recency.shape == freq.shape == money.shape:
        raise InvalidInput(
            "recency_days, frequency and monetary must have one value per customer "
            f"(got {recency.size}, {freq.size} and {money.size})"
        )
    bought = ~np.isnan(recency)
    if np.any(recency[bought] < 0):
        raise InvalidInput("recency_days cannot be negative (a purchase after the as-of date?)")
    for values, name in ((freq, "frequency"), (money, "monetary")):
        if not np.all(np.isfinite(values[bought])):
            raise InvalidInput(f"{name} is missing or infinite for a customer who bought")
    if np.any(freq[bought] < 0):
        raise InvalidInput("frequency cannot be negative")
    if np.any(np.isinf(recency)):
        raise InvalidInput("recency_days cannot be infinite (use NaN for no purchase)")
    return recency, freq, money


def _float_array(values: npt.ArrayLike, name: str) -> FloatArray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} must hold numbers only") from exc
    if array.ndim != 1:
        raise InvalidInput(f"{name} must be a flat list of one value per customer")
    return array


def _id_dtype(table: dict[str, Any]) -> np.dtype[np.str_]:
    return np.dtype(f"<U{max(len(key) for key in table)}")


def _segment_grid() -> IdArray:
    """Every (R, F, M) triple resolved once, so scoring is a single fancy-index lookup."""
    grid = np.full((SCORE_LEVELS,) * 3, "", dtype=_id_dtype(SEGMENT_LABELS))
    scores = np.arange(1, SCORE_LEVELS + 1)
    r, f, m = np.meshgrid(scores, scores, scores, indexing="ij")
    for name, (r_lo, r_hi), (f_lo, f_hi), (m_lo, m_hi) in reversed(SEGMENT_RULES):
        # Applying the rules last-to-first lets earlier rules overwrite: first match wins.
        match = (r >= r_lo) & (r <= r_hi) & (f >= f_lo) & (f <= f_hi) & (m >= m_lo) & (m <= m_hi)
        grid[match] = name
    if np.any(grid == ""):
        raise AssertionError("the RFM segment table leaves some score triples unnamed")
    return grid


_SEGMENT_GRID = _segment_grid()
_VALUE_CLASS_ARRAY = np.asarray(VALUE_CLASS_IDS, dtype=_id_dtype(VALUE_CLASS_LABELS))
