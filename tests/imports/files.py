"""Builders for import files: real CSV and XLSX files written to a test's tmp_path."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook

ORDER_HEADER = ["order_id", "customer_id", "ordered_at", "amount", "status", "channel"]


def write_csv(
    path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]], *, encoding: str = "utf-8"
) -> Path:
    """A CSV file in the given encoding."""
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    """An XLSX workbook whose first sheet holds the rows with their Python types."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path


def orders(count: int, *, customers: int = 5, start: int = 1) -> list[list[str]]:
    """`count` valid order rows with explicit order ids."""
    return [
        [
            f"O{n:06d}",
            f"C{n % customers:03d}",
            f"2024-{n % 12 + 1:02d}-{n % 28 + 1:02d} 10:00",
            f"{n % 500 + 1}.50",
            "paid",
            "web",
        ]
        for n in range(start, start + count)
    ]


def read_rejects(path: Path) -> list[dict[str, str]]:
    """The rejects file as dicts."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))
