"""The reports page as an XLSX workbook: one sheet per table, headers in the user's language."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from openpyxl import Workbook

from patron.exports.writers import xlsx_cells
from patron.web.report_queries import KPI_COLUMNS, PeriodRow

Translate = Callable[[str], str]


def _sheet(book: Workbook, title: str, header: list[str], rows: Iterable[list[Any]]) -> None:
    sheet = book.create_sheet(title[:31])
    sheet.append(header)
    for row in rows:
        sheet.append(xlsx_cells(sheet, row))


def workbook(
    _: Translate,
    *,
    periods: list[PeriodRow],
    breakdowns: dict[str, list[dict[str, Any]]],
    cohorts: list[dict[str, Any]],
) -> bytes:
    """The report's tables as XLSX bytes: KPIs by period, each breakdown, the cohorts."""
    book = Workbook(write_only=True)
    kpi_header = [_(key) for key in KPI_COLUMNS]
    _sheet(
        book, _("KPIs by period"), [_("Period"), *kpi_header],
        ([row.label, *(row.values.get(key) for key in KPI_COLUMNS)] for row in periods),
    )  # fmt: skip
    for by, rows in breakdowns.items():
        _sheet(
            book, _("By " + by), [_(by.capitalize()), *kpi_header],
            ([_key(row.get("key")), *(row.get(key) for key in KPI_COLUMNS)] for row in rows),
        )  # fmt: skip
    width = max((len(row["retention"]) for row in cohorts), default=0)
    _sheet(
        book, _("Cohorts"),
        [_("Cohort"), _("Customers"), *(f"M{k}" for k in range(width))],
        ([row["cohort"], row["customers"], *row["retention"]] for row in cohorts),
    )  # fmt: skip
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _key(value: Any) -> Any:
    """A breakdown's key as a cell: the missing value (no grade, the pool) as a dash."""
    return "—" if value is None else value
