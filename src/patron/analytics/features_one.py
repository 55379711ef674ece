"""One customer's point-in-time features in plain Python: `FEATURES_SQL` for a single row.

An event run needs the features of one customer, whose history is a few dozen rows. DuckDB
plans the whole features query for them (a dozen CTEs, tens of milliseconds of CPU) before it
reads a row; the same arithmetic over those rows in Python takes well under a millisecond.

`FEATURES_SQL` (`analytics.features`) stays the definition. Each function below computes the
columns of the CTE it names, from the customer's rows as `read_store(..., only=...)` reads
them, with the same cut, windows and NULLs; `customer_features` is the final SELECT, giving
the columns in the same order and of the same Python types as DuckDB hands back.
`tests/analytics/test_features_one.py` checks every column against DuckDB on random histories
stored in SQLite and PostgreSQL. Two things of DuckDB's are kept on purpose:

- `ts // 86400` truncates toward zero, so a time before 1970 that is not midnight falls on
  the next day number up (Python's `//` would floor it): `_day`.
- `arg_max` skips rows whose value is NULL and keeps the first of equal keys; which of two
  rows with the very same timestamp wins is not defined by the SQL, and may differ here.

Sums of amounts are added in the order rows were read; DuckDB may add them in another order,
so a sum can differ from the batch run's in its last binary digit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from patron.analytics.features import (
    SECONDS_PER_DAY,
    as_of_moment,
    day_number,
    epoch_seconds,
)
from patron.analytics.store import StoreTable

Row = dict[str, Any]
_EPOCH = datetime(1970, 1, 1)
# The tables whose rows (up to the cut) make a customer part of the run: `active_ids`.
_ACTIVITY = ("orders", "interactions", "tickets", "responses", "points")
_DATED = (*_ACTIVITY, "tier_changes")
_NO_PURCHASES: dict[str, Any] = dict.fromkeys(
    ("first_day", "last_day", "frequency", "last_gap_days", "monetary_avg")
)


def _day(ts: int) -> int:
    """Whole days since 1970-01-01, as DuckDB's `ts // 86400` computes them (toward zero)."""
    days = abs(ts) // SECONDS_PER_DAY
    return days if ts >= 0 else -days


def _nullable_day(ts: int | None) -> int | None:
    return None if ts is None else _day(ts)


def _last(rows: Iterable[Row], value: str) -> Any:
    """`arg_max(value, ts)`: the value of the latest row, skipping NULL values."""
    found, latest = None, None
    for row in rows:
        if row[value] is not None and (latest is None or row["ts"] > latest):
            found, latest = row[value], row["ts"]
    return found


def purchases(paid: list[Row]) -> dict[str, Any]:
    """`purchase_days` and `purchases`: the customer's purchase days, summed per day.

    NULL (None) throughout for a customer without a paid order, as the LEFT JOIN leaves it.
    """
    by_day: dict[int, float] = {}
    for row in paid:
        by_day[row["day"]] = by_day.get(row["day"], 0.0) + row["amount"]
    if not by_day:
        return dict(_NO_PURCHASES)
    days = sorted(by_day)
    frequency = len(days) - 1
    # (sum(amount) - arg_min(amount, day)) / nullif(count(*) - 1, 0): repeat purchases' mean.
    repeat_spend = sum(by_day.values()) - by_day[days[0]]
    return {
        "first_day": days[0],
        "last_day": days[-1],
        "frequency": frequency,
        "last_gap_days": days[-1] - days[-2] if frequency else None,
        "monetary_avg": repeat_spend / frequency if frequency else None,
    }


def order_windows(paid: list[Row], d: int) -> dict[str, Any]:
    """`order_windows`: paid orders (not days) counted and summed per window."""
    ages = [(d - row["day"], row["amount"]) for row in paid]
    return {
        "orders_total": len(ages),
        "monetary_total": sum(amount for _, amount in ages) if ages else None,
        "orders_30d": sum(1 for age, _ in ages if age < 30),
        "orders_90d": sum(1 for age, _ in ages if age < 90),
        "orders_365d": sum(1 for age, _ in ages if age < 365),
        "orders_prev_90d": sum(1 for age, _ in ages if 90 <= age < 180),
        "spend_90d": float(sum(amount for age, amount in ages if age < 90)),
        "spend_prev_90d": float(sum(amount for age, amount in ages if 90 <= age < 180)),
        "spend_365d": float(sum(amount for age, amount in ages if age < 365)),
    }


def refunds(orders: list[Row], d: int) -> int:
    """`refunds`: refunded orders placed in the last 90 days."""
    return sum(1 for row in orders if row["status"] == "refunded" and d - _day(row["ts"]) < 90)


def main_channel(paid: list[Row]) -> str | None:
    """`main_channel`: the channel of most paid orders; a tie goes to the first by name."""
    counts = Counter(row["channel"] for row in paid if row["channel"] is not None)
    if not counts:
        return None
    return str(min(counts.items(), key=lambda item: (-item[1], item[0]))[0])


def contact(interactions: list[Row], d: int) -> dict[str, Any]:
    """`contact`: interactions per window and days since the last one (and last follow-up)."""
    days = [_day(row["ts"]) for row in interactions]
    follow_ups = [_day(row["ts"]) for row in interactions if row["is_follow_up"] == 1]
    return {
        "interactions_90d": sum(1 for day in days if d - day < 90),
        "interactions_prev_90d": sum(1 for day in days if 90 <= d - day < 180),
        "days_since_interaction": d - max(days) if days else None,
        "days_since_follow_up": d - max(follow_ups) if follow_ups else None,
    }


def service(tickets: list[Row], d: int, cut: int) -> dict[str, Any]:
    """`service`: complaints per window, and tickets neither resolved nor closed at the cut."""
    complaint_ages = [d - _day(row["ts"]) for row in tickets if row["kind"] == "complaint"]

    def still_open(row: Row) -> bool:
        return all(row[done] is None or row[done] > cut for done in ("resolved_ts", "closed_ts"))

    return {
        "complaints_90d": sum(1 for age in complaint_ages if age < 90),
        "complaints_prev_90d": sum(1 for age in complaint_ages if 90 <= age < 180),
        "open_tickets": sum(1 for row in tickets if still_open(row)),
    }


def answers(responses: list[Row]) -> dict[str, Any]:
    """`answers`: the latest NPS and CSAT scores."""
    return {
        "last_nps": _last((row for row in responses if row["kind"] == "nps"), "score"),
        "last_csat": _last((row for row in responses if row["kind"] == "csat"), "score"),
    }


def points_balance(points: list[Row]) -> int:
    """`points_balance`: every points change up to the cut, added up."""
    return sum(row["points"] for row in points)


def tier(tier_changes: list[Row]) -> str | None:
    """`tiers`: the tier of the latest change."""
    latest = _last(tier_changes, "tier")
    return None if latest is None else str(latest)


def tag_list(tags: list[Row]) -> list[str]:
    """`tag_lists`: the customer's tags in order (current tags: tags carry no date)."""
    return sorted(row["tag"] for row in tags)


def age(birthday_ts: int | None, today: date) -> int | None:
    """`date_part('year', age(today, birthday))`: whole years, negative for a future date."""
    if birthday_ts is None:
        return None
    born = (_EPOCH + timedelta(seconds=birthday_ts)).date()
    earlier, later = sorted((born, today))
    years = later.year - earlier.year - ((later.month, later.day) < (earlier.month, earlier.day))
    return years if born <= today else -years


def _is_active(customer: Row, tables: Mapping[str, list[Row]], cut: int) -> bool:
    """`active_ids`: created by the cut, or with any dated row up to it."""
    created = customer["created_ts"]
    return (created is not None and created <= cut) or any(tables[name] for name in _ACTIVITY)


def _rows(tables: Mapping[str, StoreTable], cut: int) -> dict[str, list[Row]]:
    """The tables the features read, as dicts; dated rows after the cut dropped (`o` … `pt`)."""
    rows = {name: tables[name].data.to_pylist() for name in ("customers", "tags", *_DATED)}
    for name in _DATED:
        rows[name] = [row for row in rows[name] if row["ts"] <= cut]
    return rows


def customer_features(
    tables: Mapping[str, StoreTable], as_of: date | datetime
) -> dict[str, Any] | None:
    """The customer's row of `FEATURES_SQL` as of the date, from `read_store(..., only=id)`.

    None when the run would leave the customer out: not in the store, or neither created by
    the cut nor with anything dated up to it.
    """
    moment = as_of_moment(as_of)
    d, cut = day_number(moment), epoch_seconds(moment)
    rows = _rows(tables, cut)
    if len(rows["customers"]) != 1 or not _is_active(rows["customers"][0], rows, cut):
        return None
    c = rows["customers"][0]
    paid = [{**row, "day": _day(row["ts"])} for row in rows["orders"] if row["status"] == "paid"]
    p = purchases(paid)
    w = order_windows(paid, d)
    first_day, last_day, frequency = p["first_day"], p["last_day"], p["frequency"]
    bought = last_day is not None
    span = last_day - first_day if bought else None
    avg_gap = span / frequency if bought and frequency else None
    known_days = [day for day in (first_day, _nullable_day(c["created_ts"])) if day is not None]
    return {
        "customer_id": c["customer_id"],
        "external_id": c["external_id"],
        "recency_days": d - last_day if bought else None,
        "frequency": frequency or 0,
        "tenure_days": d - min(known_days) if known_days else None,
        "purchase_span_days": span,
        "days_since_first_purchase": d - first_day if bought else None,
        "last_gap_days": p["last_gap_days"],
        "monetary_total": 0.0 if w["monetary_total"] is None else w["monetary_total"],
        "monetary_avg": 0.0 if p["monetary_avg"] is None else p["monetary_avg"],
        **{name: value for name, value in w.items() if name != "monetary_total"},
        "avg_gap_days": avg_gap,
        "overdue_ratio": (d - last_day) / avg_gap if bought and avg_gap else None,
        "refunds_90d": refunds(rows["orders"], d),
        **contact(rows["interactions"], d),
        **service(rows["tickets"], d, cut),
        **answers(rows["responses"]),
        "points_balance": points_balance(rows["points"]),
        "tier": tier(rows["tier_changes"]),
        "owner": c["owner"],
        "owner_id": c["owner_id"],
        "in_pool": c["owner_id"] is None,
        "locked": None if c["locked"] is None else c["locked"] == 1,
        "days_owned": None if c["owned_since_ts"] is None else d - _day(c["owned_since_ts"]),
        "tags": tag_list(rows["tags"]),
        "age": age(c["birthday_ts"], moment.date()),
        "gender": c["gender"],
        "province": c["province"],
        "city": c["city"],
        "channel": main_channel(paid),
        "kind": c["kind"],
        "name": c["name"],
        "birthday_day": _nullable_day(c["birthday_ts"]),
        "lunar_birthday": c["lunar_birthday"],
        "current_grade": c["current_grade"],
        "current_stage": c["current_stage"],
    }
