"""Streaming CSV and XLSX writers that only put the file in place once it is whole."""

from __future__ import annotations

import csv
import enum
import io
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

FORMATS = (".csv", ".xlsx")


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary file beside `target`, renamed over it only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)


def write_csv(path: Path, headers: list[str], rows: Iterable[list[Any]]) -> int:
    """UTF-8 with a BOM, so Excel opens Chinese text correctly; returns the rows written."""
    count = 0
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers)
        for row in rows:
            writer.writerow(csv_cells(row))
            count += 1
    return count


def write_xlsx(path: Path, headers: list[str], rows: Iterable[list[Any]]) -> int:
    """One sheet in openpyxl's write-only mode (constant memory); returns the rows written."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("export")
    sheet.append([xlsx_text(header) for header in headers])
    count = 0
    for row in rows:
        sheet.append(xlsx_cells(sheet, row))
        count += 1
    book.save(path)
    return count


# A cell a spreadsheet would run as a formula: =, @, a tab or return, or +/- before anything but
# a plain number (so "+8613800138000" and "-12.5" stay as they are).
_FORMULA = re.compile(r"^(?:[=@\t\r]|[+-](?![\d.\s]*$))")


def _formula_like(value: Any) -> bool:
    return isinstance(value, str) and _FORMULA.match(value) is not None


def defused(text: str) -> str:
    """Text a spreadsheet would run as a formula, made inert with a leading apostrophe (CSV)."""
    return "'" + text if _FORMULA.match(text) else text


def _text_cell(sheet: Any, value: str) -> WriteOnlyCell:
    # In XLSX the cell keeps the exact text, typed as a string so it is never evaluated.
    cell = WriteOnlyCell(sheet, value=xlsx_text(value))
    cell.data_type = "s"
    return cell


def xlsx_cells(sheet: Any, row: Iterable[Any]) -> list[Any]:
    """One row's XLSX cells: numbers and dates typed, formula-like text kept as plain text."""
    return [
        _text_cell(sheet, value) if _formula_like(value) else cell_value(value) for value in row
    ]


def csv_cells(row: list[Any]) -> list[str]:
    """One row's CSV cells, text that a spreadsheet would run as a formula made inert."""
    return [defused(value) if isinstance(value, str) else csv_text(value) for value in row]


def csv_text(value: Any) -> str:
    """A value as CSV text: dates in ISO form, no time when it is midnight-free date."""
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | Decimal):
        return str(value)
    return str(value)


def cell_value(value: Any) -> Any:
    """A value as an XLSX cell: numbers and dates keep their type."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bool | int | float | Decimal | datetime | date) or value is None:
        return value
    return xlsx_text(str(value))


def xlsx_text(text: str) -> str:
    """Text without the control characters an XLSX sheet cannot hold (they are dropped)."""
    cleaned: str = ILLEGAL_CHARACTERS_RE.sub("", text)
    return cleaned


def csv_chunks(
    headers: list[str], rows: Iterable[list[Any]], *, batch: int = 1000
) -> Iterator[bytes]:
    """The CSV file (UTF-8 with BOM, as `write_csv`) as byte chunks of `batch` rows each."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(headers)
    pending = 0
    for row in rows:
        writer.writerow(csv_cells(row))
        pending += 1
        if pending == batch:
            yield _drain(buffer)
            pending = 0
    yield _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode("utf-8")
