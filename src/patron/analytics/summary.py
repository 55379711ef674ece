"""Per-customer purchase summaries (frequency, recency, T, monetary value) from an order log.

Days are the time unit and a customer's purchases are counted by purchase day, so two orders on
one day are one purchase: that is the x of BG/NBD and Pareto/NBD. All the work is done by DuckDB,
so a log of ten million orders is summarised without a Python loop.

NumPy is imported where arrays are made, not with this module: `patron clv` starts reading the
log as soon as DuckDB is loaded and loads NumPy and the models on another thread meanwhile.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from patron.errors import FileUnreadable, InvalidInput

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    FloatArray = NDArray[np.float64]

# Headers a user's order file may carry for each column, in English or Chinese.
COLUMN_ALIASES = {
    "customer_id": ("customer_id", "客户编号"),
    "ordered_at": ("ordered_at", "下单时间"),
    "amount": ("amount", "金额"),
}
_TYPES = {"customer_id": "VARCHAR", "ordered_at": "TIMESTAMP", "amount": "DOUBLE"}


@dataclass(frozen=True)
class CustomerSummary:
    """One entry per customer, aligned arrays; `T` is the time from first purchase to as-of."""

    customer_id: NDArray[Any]
    frequency: FloatArray
    recency: FloatArray
    T: FloatArray
    monetary_value: FloatArray
    as_of: date

    def __len__(self) -> int:
        return len(self.frequency)


@dataclass(frozen=True)
class HoldoutSplit:
    """A calibration summary up to `cut` and each of its customers' purchase days after it."""

    calibration: CustomerSummary
    holdout_purchases: FloatArray
    holdout_days: int


class OrderLog:
    """Orders (customer_id, ordered_at, amount) held in an in-memory DuckDB table.

    `table` names the table or view holding them: a scoring run reads its paid orders through
    a view over the run's own `orders` table instead of copying ten million rows.
    """

    def __init__(self, connection: duckdb.DuckDBPyConnection, table: str = "orders") -> None:
        self._con = connection
        self._table = table

    @classmethod
    def from_view(cls, connection: duckdb.DuckDBPyConnection, view: str, source: str) -> OrderLog:
        """A log over `view`, a DuckDB view with the columns customer_id (no NULLs),
        ordered_at (TIMESTAMP) and amount, checked as a loaded log is."""
        log = cls(connection, view)
        log._check_complete(source)
        return log

    @classmethod
    def from_csv(cls, path: Path | str) -> OrderLog:
        """Load a CSV log; headers match case-insensitively, in English or Chinese."""
        path = Path(path)
        if not path.is_file():
            raise FileUnreadable(f"cannot read {path}: no such file")
        con = _connect()
        names = _header(con, path)
        types = {names[column]: kind for column, kind in _TYPES.items()}
        selected = ", ".join(f'"{names[column]}" AS {column}' for column in _TYPES)
        try:
            con.execute(
                f"CREATE TEMP TABLE orders AS SELECT {selected} "
                "FROM read_csv($path, header = true, types = $types)",
                {"path": str(path), "types": types},
            )
        except duckdb.Error as exc:
            raise FileUnreadable(f"cannot read {path}: {_plain(exc)}") from exc
        log = cls(con)
        log._check_complete(str(path))
        return log

    @classmethod
    def from_arrays(
        cls, customer_id: NDArray[Any], ordered_at: NDArray[Any], amount: NDArray[Any]
    ) -> OrderLog:
        """Load a log from aligned numpy arrays (ordered_at as datetime64)."""
        import numpy as np

        con = _connect()
        ids = np.asarray(customer_id)
        frame = {
            # DuckDB reads fixed-width numpy strings as an ENUM; object arrays stay VARCHAR.
            "customer_id": ids.astype(object) if ids.dtype.kind in "US" else ids,
            "ordered_at": np.asarray(ordered_at, dtype="datetime64[us]"),
            "amount": np.asarray(amount, dtype=np.float64),
        }
        con.register("order_arrays", frame)
        con.execute("CREATE TEMP TABLE orders AS SELECT * FROM order_arrays")
        con.unregister("order_arrays")
        log = cls(con)
        log._check_complete("the order arrays")
        return log

    def __len__(self) -> int:
        return int(self._scalar(f"SELECT count(*) FROM {self._table}"))

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection holding the `orders` table and any summary table made from it."""
        return self._con

    def summary_table(self, as_of: date | datetime) -> str:
        """Summarise as of a day into a DuckDB table, in no particular order; its name.

        The same figures as `summary`, kept in DuckDB for work that never needs them in Python.
        """
        self._con.execute(
            f"CREATE OR REPLACE TEMP TABLE {SUMMARY_TABLE} AS {self._sql(_SUMMARY_SQL)}",
            {"until": _until(as_of), "as_of": _day(as_of)},
        )
        return SUMMARY_TABLE

    def latest_day(self) -> date:
        """The day of the latest order; the natural as-of date of a historical log."""
        value = self._scalar(f"SELECT CAST(max(ordered_at) AS DATE) FROM {self._table}")
        if value is None:
            raise InvalidInput("the order log has no orders")
        assert isinstance(value, date)
        return value

    def first_day(self, as_of: date | datetime) -> date | None:
        """The day of the earliest order on or before as-of."""
        value = self._scalar(
            f"SELECT CAST(min(ordered_at) AS DATE) FROM {self._table} WHERE ordered_at < $until",
            {"until": _until(as_of)},
        )
        return value if isinstance(value, date) else None

    def summary(self, as_of: date | datetime) -> CustomerSummary:
        """Every customer with an order on or before as-of, summarised as of that day."""
        return self.split(as_of, _day(as_of)).calibration

    def split(self, as_of: date | datetime, cut: date) -> HoldoutSplit:
        """Summaries as of `cut` and the purchase days each customer made in (cut, as-of]."""
        import numpy as np

        as_of_day = _day(as_of)
        if cut > as_of_day:
            raise InvalidInput(f"the holdout cut {cut} is after the as-of date {as_of_day}")
        rows = self._con.execute(
            self._sql(_SPLIT_SQL), {"until": _until(as_of), "cut": cut}
        ).fetchnumpy()
        calibration = CustomerSummary(
            customer_id=rows["customer_id"],
            frequency=rows["frequency"].astype(np.float64),
            recency=rows["recency"].astype(np.float64),
            T=rows["T"].astype(np.float64),
            monetary_value=rows["monetary_value"].astype(np.float64),
            as_of=cut,
        )
        return HoldoutSplit(
            calibration=calibration,
            holdout_purchases=rows["holdout"].astype(np.float64),
            holdout_days=(as_of_day - cut).days,
        )

    def _sql(self, query: str) -> str:
        return query.replace("FROM orders", f"FROM {self._table}")

    def _scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        row = self._con.execute(sql, params or {}).fetchone()
        return None if row is None else row[0]

    def _check_complete(self, source: str) -> None:
        row = self._con.execute(
            "SELECT count(*) FILTER (WHERE customer_id IS NULL), "
            "count(*) FILTER (WHERE ordered_at IS NULL), "
            f"count(*) FILTER (WHERE amount IS NULL OR isnan(amount)) FROM {self._table}"
        ).fetchone()
        assert row is not None
        for column, missing in zip(_TYPES, row, strict=True):
            if missing:
                raise FileUnreadable(f"{source}: {missing} row(s) have no {column}")


SUMMARY_TABLE = "customer_summary"

# As `_SPLIT_SQL` with the cut on the as-of day, without the holdout's filters.
_SUMMARY_SQL = """
WITH daily AS (
    SELECT customer_id, CAST(ordered_at AS DATE) AS day,
        sum(CAST(amount AS DECIMAL(38, 6))) AS spend
    FROM orders WHERE ordered_at < $until GROUP BY ALL
)
SELECT
    customer_id,
    count(*) - 1 AS frequency,
    date_diff('day', min(day), max(day)) AS recency,
    date_diff('day', min(day), $as_of) AS "T",
    CASE WHEN count(*) > 1
        THEN CAST(sum(spend) - arg_min(spend, day) AS DOUBLE) / (count(*) - 1)
        ELSE 0 END AS monetary_value
FROM daily
GROUP BY customer_id
"""

# One pass over the orders: purchase days up to the cut make the summary, the days after it
# (up to as-of) are the holdout purchases. Monetary value is the mean of the repeat purchase
# days' totals, so the first day's spend is taken out. Spends are added as decimals (to a
# millionth of the currency unit, finer than any money amount) and converted to a double once:
# DuckDB's threads add doubles in no fixed order, which made the last bits of a mean spend,
# and so the Gamma-Gamma fit, differ from run to run.
_SPLIT_SQL = """
WITH daily AS (
    SELECT customer_id, CAST(ordered_at AS DATE) AS day,
        sum(CAST(amount AS DECIMAL(38, 6))) AS spend
    FROM orders WHERE ordered_at < $until GROUP BY ALL
)
SELECT
    customer_id,
    count(*) FILTER (WHERE day <= $cut) - 1 AS frequency,
    date_diff('day', min(day), max(day) FILTER (WHERE day <= $cut)) AS recency,
    date_diff('day', min(day), $cut) AS "T",
    CASE WHEN count(*) FILTER (WHERE day <= $cut) > 1
        THEN CAST(sum(spend) FILTER (WHERE day <= $cut) - arg_min(spend, day) AS DOUBLE)
            / (count(*) FILTER (WHERE day <= $cut) - 1)
        ELSE 0 END AS monetary_value,
    count(*) FILTER (WHERE day > $cut) AS holdout
FROM daily
GROUP BY customer_id
HAVING min(day) <= $cut
ORDER BY customer_id
"""


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    # Spill instead of growing without bound on a very large log.
    con.execute(
        "SET memory_limit = '1GB'; SET preserve_insertion_order = false; "
        "SET enable_progress_bar = false"
    )
    return con


def _header(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, str]:
    return _match_columns(_columns(con, path), COLUMN_ALIASES, path)


def _columns(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    try:
        columns = con.execute(
            "SELECT * FROM read_csv($path, header = true, all_varchar = true) LIMIT 0",
            {"path": str(path)},
        ).description
    except duckdb.Error as exc:
        raise FileUnreadable(f"cannot read {path}: {_plain(exc)}") from exc
    return [name for name, *_ in columns or []]


def _match_columns(
    columns: list[str], aliases: Mapping[str, tuple[str, ...]], path: Path
) -> dict[str, str]:
    """Each wanted column's header in the file, matched case-insensitively."""
    found = {name.strip().lstrip("\ufeff").lower(): name for name in columns}
    names: dict[str, str] = {}
    for column, options in aliases.items():
        match = next((found[alias] for alias in options if alias in found), None)
        if match is None:
            raise FileUnreadable(f"{path} has no {column} column (found: {', '.join(found)})")
        names[column] = match
    return names


def _plain(exc: duckdb.Error) -> str:
    """DuckDB's CSV errors as one line: where it failed and which value it could not read."""
    text = str(exc)
    line = re.search(r"CSV Error on Line: (\d+)", text)
    value = re.search(r'Could not convert string "([^"]*)" to \'(\w+)\'', text)
    column = re.search(r'converting column "([^"]+)"', text)
    if line and value and column:
        kind = "a date" if value.group(2).startswith(("TIMESTAMP", "DATE")) else "a number"
        return f'line {line.group(1)}: {column.group(1)} "{value.group(1)}" is not {kind}'
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first.split(": ", 1)[-1]


def _day(as_of: date | datetime) -> date:
    return as_of.date() if isinstance(as_of, datetime) else as_of


def _until(as_of: date | datetime) -> datetime:
    """The exclusive upper bound on ordered_at: a bare date includes that whole day."""
    if isinstance(as_of, datetime):
        return as_of.replace(tzinfo=None) + timedelta(microseconds=1)
    return datetime.combine(as_of + timedelta(days=1), datetime.min.time())


# Headers accepted for a summary file: the names used here, then those of the literature.
SUMMARY_ALIASES = {
    "frequency": ("frequency", "x"),
    "recency": ("recency", "t_x"),
    "T": ("t",),
    "monetary_value": ("monetary_value", "zbar", "m"),
}


def read_summary_csv(path: Path | str, *, monetary: bool) -> dict[str, FloatArray]:
    """Read a summary file (frequency, recency, T[, monetary_value]) into float arrays."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise FileUnreadable(f"cannot read {path}: no such file")
    con = _connect()
    wanted = [c for c in SUMMARY_ALIASES if monetary or c != "monetary_value"]
    names = _match_columns(_columns(con, path), {c: SUMMARY_ALIASES[c] for c in wanted}, path)
    selected = ", ".join(f'"{names[c]}"' for c in wanted)
    try:
        rows = con.execute(
            f"SELECT {selected} FROM read_csv($path, header = true, types = $types)",
            {"path": str(path), "types": dict.fromkeys(names.values(), "DOUBLE")},
        ).fetchnumpy()
    except duckdb.Error as exc:
        raise FileUnreadable(f"cannot read {path}: {_plain(exc)}") from exc
    arrays = {c: np.asarray(rows[names[c]], dtype=np.float64) for c in wanted}
    for column, values in arrays.items():
        if np.isnan(values).any():
            raise FileUnreadable(f"{path}: {int(np.isnan(values).sum())} row(s) have no {column}")
    return arrays
