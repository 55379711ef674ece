"""The rejects file: every refused row as it was in the file, with its row number and reason."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from patron.imports.columns import Record, RowError
from patron.imports.reports import CsvReport, beside
from patron.imports.values import Cell

REASON_COLUMNS = ["row_number", "column", "reason"]


def default_path(source: Path) -> Path:
    """Where rejects go when no path is given: beside the file, as NAME.rejects.csv."""
    return beside(source, "rejects")


class RejectsFile(CsvReport):
    """The file's own columns, then where and why each row was refused."""

    def __init__(self, path: Path, headers: list[str], *, always: bool) -> None:
        super().__init__(path, [*headers, *REASON_COLUMNS], always=always)
        self.width = len(headers)

    def write(self, rejected: list[tuple[Record, RowError]]) -> None:
        """Append refused rows in file order."""
        ordered = sorted(rejected, key=lambda item: item[0].row_number)
        self.append(self._line(record, error) for record, error in ordered)

    def _line(self, record: Record, error: RowError) -> list[object]:
        cells = [_text(cell) for cell in record.cells[: self.width]]
        cells += [""] * (self.width - len(cells))
        return [*cells, record.row_number, error.column, error.reason]


def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, datetime | date):
        return cell.isoformat(sep=" ") if isinstance(cell, datetime) else cell.isoformat()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)
