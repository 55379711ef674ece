"""Purchase summaries from an order log, checked against a log summarised by hand."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest

from patron.analytics.summary import OrderLog, read_summary_csv
from patron.errors import FileUnreadable, InvalidInput

# A: first day Jan 1 (two orders: 10 + 5), repeat days Jan 5 (20), Jan 11 (15 + 25), Jan 20 (99).
# B: one order on Jan 3. C: first order after the as-of date used below.
LOG = """customer_id,ordered_at,amount
A,2020-01-01,10
A,2020-01-01T15:00:00,5
A,2020-01-05 09:00:00,20
A,2020-01-11,15
A,2020-01-11T23:59:59,25
B,2020-01-03,7
A,2020-01-20,99
C,2020-01-16,3
"""


def write(tmp_path: Path, text: str, name: str = "orders.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def by_customer(log: OrderLog, as_of: date | datetime) -> dict[str, tuple[float, ...]]:
    s = log.summary(as_of)
    return {
        str(c): (f, r, t, m)
        for c, f, r, t, m in zip(
            s.customer_id, s.frequency, s.recency, s.T, s.monetary_value, strict=True
        )
    }


def test_summary_matches_the_hand_computed_one(tmp_path: Path) -> None:
    log = OrderLog.from_csv(write(tmp_path, LOG))
    rows = by_customer(log, date(2020, 1, 15))
    # A: repeat days Jan 5 and Jan 11: x = 2, t_x = 10, T = 14, repeat-day spend (20 + 40) / 2.
    assert rows["A"] == (2.0, 10.0, 14.0, 30.0)
    assert rows["B"] == (0.0, 0.0, 12.0, 0.0)
    assert "C" not in rows
    assert len(log) == 8 and log.latest_day() == date(2020, 1, 20)


def test_a_bare_date_includes_the_whole_day_and_a_datetime_cuts_within_it(tmp_path: Path) -> None:
    log = OrderLog.from_csv(write(tmp_path, LOG))
    assert by_customer(log, date(2020, 1, 11))["A"] == (2.0, 10.0, 10.0, 30.0)
    # At noon on Jan 11 only the 15 of that day counts.
    assert by_customer(log, datetime(2020, 1, 11, 12, 0))["A"] == (2.0, 10.0, 10.0, 17.5)


def test_arrays_give_the_same_summary_as_the_csv(tmp_path: Path) -> None:
    from_csv = by_customer(OrderLog.from_csv(write(tmp_path, LOG)), date(2020, 1, 31))
    lines = [line.split(",") for line in LOG.strip().splitlines()[1:]]
    log = OrderLog.from_arrays(
        np.array([c for c, _, _ in lines]),
        np.array([np.datetime64(d.replace(" ", "T")) for _, d, _ in lines]),
        np.array([float(a) for _, _, a in lines]),
    )
    assert by_customer(log, date(2020, 1, 31)) == from_csv
    assert from_csv["A"] == (3.0, 19.0, 30.0, (20 + 40 + 99) / 3)
    assert from_csv["C"] == (0.0, 0.0, 15.0, 0.0)


def test_split_counts_the_holdout_purchase_days(tmp_path: Path) -> None:
    log = OrderLog.from_csv(write(tmp_path, LOG))
    split = log.split(date(2020, 1, 20), date(2020, 1, 6))
    assert list(split.calibration.customer_id) == ["A", "B"]
    assert list(split.calibration.frequency) == [1.0, 0.0]
    assert list(split.calibration.T) == [5.0, 3.0]
    assert list(split.holdout_purchases) == [2.0, 0.0]
    assert split.holdout_days == 14
    with pytest.raises(InvalidInput, match="after the as-of"):
        log.split(date(2020, 1, 6), date(2020, 1, 20))


def test_headers_match_case_insensitively_and_in_chinese(tmp_path: Path) -> None:
    text = "\ufeff客户编号,下单时间,金额\nA,2020-01-01,10\nA,2020-01-02,30\n"
    rows = by_customer(OrderLog.from_csv(write(tmp_path, text)), date(2020, 1, 3))
    assert rows["A"] == (1.0, 1.0, 2.0, 30.0)
    upper = "Customer_ID,Ordered_At,AMOUNT\nA,2020-01-01,10\n"
    assert by_customer(OrderLog.from_csv(write(tmp_path, upper, "u.csv")), date(2020, 1, 3))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("customer_id,amount\nA,1\n", "no ordered_at column"),
        (
            "customer_id,ordered_at,amount\nA,2020-01-01,1\nB,yesterday,2\n",
            'line 3: ordered_at "yesterday" is not a date',
        ),
        ("customer_id,ordered_at,amount\nA,2020-01-01,ten\n", 'amount "ten" is not a number'),
        ("customer_id,ordered_at,amount\n,2020-01-01,1\n", "1 row\\(s\\) have no customer_id"),
    ],
)
def test_bad_logs_fail_with_a_plain_message(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(FileUnreadable, match=message):
        OrderLog.from_csv(write(tmp_path, text))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileUnreadable, match="no such file"):
        OrderLog.from_csv(tmp_path / "absent.csv")


def test_summary_files_accept_the_literature_headers(data_dir: Path) -> None:
    columns = read_summary_csv(
        data_dir / "cdnow_customers_summary_with_transactions.csv", monetary=True
    )
    assert len(columns["frequency"]) == 2357
    assert columns["frequency"][0] == 2 and columns["monetary_value"][0] == pytest.approx(22.35)
    with pytest.raises(FileUnreadable, match="no monetary_value column"):
        read_summary_csv(data_dir / "cdnow_customers_summary.csv", monetary=True)
