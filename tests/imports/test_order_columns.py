"""Orders parsed column by column give exactly what the row parser gives, row for row."""

from __future__ import annotations

from dataclasses import fields

import pytest

from patron.imports.columns import Plan, content_hash, plan_columns
from patron.imports.kinds import Options, kind_named
from patron.imports.kinds.base import Kind, parse_records
from patron.imports.occurrences import Identities
from patron.imports.order_columns import (
    OrderColumns,
    _contents,
    hash_orders,
    identify_orders,
    parse_orders,
)
from patron.imports.values import Cell

HEADER = [
    "order_id",
    "customer_id",
    "下单时间",
    "amount",
    "status",
    "channel",
    "quantity",
    "product_id",
    "product_name",
    "备注",
    "渠道代码",
]
# Every form the fast path takes, and many it must leave to the row parser.
ROWS: list[list[str]] = [
    ["O1", "C1", "2024-01-05 10:00:00", "30.67", "paid", "web", "1", "P1", "茶", "", ""],
    ["O2", "C1", "2024-01-05", "30", "已支付", "app", "", "P1", "", "老客户", "x"],
    ["O3", "C2", "20240106", "30.6", "refunded", "", "3", "", "", "", ""],
    ["O4", "C2", "2024-01-07T09:30", "0.50", " paid ", "store", "3.0", "", "咖啡", "", ""],
    ["O5", " C3 ", "2024/1/7 9:30", "¥1,234.50", "PAID", "", "1,000", "P2", "", "", ""],
    ["O6", "C3", "2024-01-08T10:00:00+00:00", "007.50", "paid", "", "", "", "", "", ""],
    ["O7", "C3", "2024-01-08 10:00:00.250", "1e5", "paid", "", "", "", "", "", ""],
    ["O8", "C4", "2024年1月9日", "$12", "cancelled", "", "", "", "", "", ""],
    ["O9", "C4", "2024-02-30", "10", "paid", "", "", "", "", "", ""],
    ["O10", "", "2024-01-09", "10", "paid", "", "", "", "", "", ""],
    ["O11", "C5", "2024-01-09", "-5", "paid", "", "", "", "", "", ""],
    ["O12", "C5", "2024-01-09", "十元", "paid", "", "", "", "", "", ""],
    ["O13", "C5", "2024-01-09", "1.235", "lost", "", "", "", "", "", ""],
    ["O14", "C5", "2024-01-09", "1.235", "paid", "", "-1", "", "", "", ""],
    ["", "C6", "2024-01-10", "5", "paid", "", "", "", "", "", ""],
    ["", "C6", "2024-01-10", "5.00", "paid", "", "", "", "", "", ""],
    ["", "C6", "2024-01-10 00:00", "5", "paid", "", "", "", "", "", ""],
    ["O1", "C6", "2024-01-11", "5", "paid", "", "", "", "", "", ""],
    ["O15", "C7", "2024-01-12", "1234567890123", "paid", "", "", "", "", "", ""],
    ["O16", "C7", "2024-01-12", "999999999999.99", "paid", "", "", "", "", "", ""],
    ["O17", "C7", "2024-01-12", "１２", "paid", "", "", "", "", "", ""],
    ["O18", "C7", "2024-01-12"],
    ["O19", "C7", "2024-01-12", "8", "paid", "", "", "", "", "", "", "", "  "],
    ["O20", "C7", "2024-01-12", "8", "paid", "", "", "", "", "", "", "extra"],
    ["O21", "C7", " 2024-01-12 ", "8 ", "paid", "", "", "", "", "", ""],
]


@pytest.fixture
def orders_kind() -> Kind:
    return kind_named("orders", Options())


@pytest.fixture
def plan(orders_kind: Kind) -> Plan:
    return plan_columns(orders_kind.fields, HEADER, kind="orders")


def _parsed(
    kind: Kind, plan: Plan, *, textual: bool
) -> tuple[OrderColumns, list[tuple[int, str, str]]]:
    numbers = list(range(2, len(ROWS) + 2))
    batch, rejected = parse_orders(kind, plan, numbers, [list(r) for r in ROWS], textual=textual)
    hash_orders(plan, batch)
    batch, repeated = identify_orders(plan, batch, Identities())
    refused = sorted(
        (record.row_number, error.column, error.reason) for record, error in rejected + repeated
    )
    return batch, refused


def test_the_column_path_equals_the_row_path(orders_kind: Kind, plan: Plan) -> None:
    fast, fast_refused = _parsed(orders_kind, plan, textual=True)
    slow, slow_refused = _parsed(orders_kind, plan, textual=False)
    assert fast_refused == slow_refused
    for column in fields(OrderColumns):
        assert getattr(fast, column.name) == getattr(slow, column.name), column.name
    # The fast path really ran: most rows never reached the row parser.
    assert len(fast) == len(slow) > 10


def test_hashes_are_the_row_paths_to_the_byte(orders_kind: Kind, plan: Plan) -> None:
    fast, _ = _parsed(orders_kind, plan, textual=True)
    rows: list[tuple[int, list[Cell]]] = [(n, list(r)) for n, r in enumerate(ROWS, start=2)]
    records, _ = parse_records(orders_kind, plan, rows)
    by_number = {r.row_number: content_hash(r.values, r.custom) for r in records}
    assert fast.import_hash == [by_number[n] for n in fast.numbers]


def test_rows_refused_with_the_row_paths_reasons(orders_kind: Kind, plan: Plan) -> None:
    _, refused = _parsed(orders_kind, plan, textual=True)
    by_row = {number: (column, reason) for number, column, reason in refused}
    assert by_row[10][0] == "下单时间" and "not a real date" in by_row[10][1]
    assert by_row[11] == ("customer_id", "is empty")
    assert by_row[12][0] == "amount" and "negative" in by_row[12][1]
    assert by_row[19] == ("order_id", "'O1' appears in an earlier row")
    assert by_row[20][0] == "amount" and 21 not in by_row
    assert by_row[23][0] == "amount" and by_row[23][1] == "is empty"
    assert by_row[25][0] == "(row)"


def test_identical_rows_without_ids_get_numbered_ids(orders_kind: Kind, plan: Plan) -> None:
    fast, _ = _parsed(orders_kind, plan, textual=True)
    derived = [e for e, given in zip(fast.external_id, fast.order_id, strict=True) if not given]
    assert [e.rsplit("-", 1)[1] for e in derived] == ["1", "2", "3"]
    assert len({e.rsplit("-", 1)[0] for e in derived}) == 1


def test_contents_leave_out_empty_cells_wherever_they_are() -> None:
    columns: list[list[object]] = [["1", None, "3"], ["x", "y", None], [None, "b", None]]
    assert _contents(["a", "b", "c"], columns) == ["a=1\x1fb=x", "b=y\x1fc=b", "a=3"]
    assert _contents(["c", "a"], [columns[2], columns[0]]) == ["a=1", "c=b", "a=3"]
    assert _contents(["a"], [["{x}"]]) == ["a={x}"]


@pytest.mark.parametrize("last", ["2024-02-29 23:59:59", "2023-02-29 10:00:00"])
def test_plain_datetime_columns_equal_the_row_path(
    orders_kind: Kind, plan: Plan, last: str
) -> None:
    moments = ["2024-01-05 10:00:00", "2021-12-31 00:00:00", "2024-01-05 10:00:00", last]
    rows: list[list[Cell]] = [
        [f"P{n}", "C1", moment, "1.00", "paid", "", "", "", "", "", ""]
        for n, moment in enumerate(moments)
    ]
    numbers = list(range(2, len(rows) + 2))
    fast, refused = parse_orders(orders_kind, plan, numbers, rows, textual=True)
    slow, slow_refused = parse_orders(orders_kind, plan, numbers, rows, textual=False)
    assert fast.ordered_at == slow.ordered_at == moments[: len(fast)]
    assert [(r.row_number, e.reason) for r, e in refused] == [
        (r.row_number, e.reason) for r, e in slow_refused
    ]
    assert len(refused) == (0 if last.startswith("2024") else 1)
