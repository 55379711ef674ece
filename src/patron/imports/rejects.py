"""The rejects file: every refused row as it was in the file, with its row number and reason."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path
from typing import IO

from patron.imports.columns import Record, RowError
from patron.imports.values import Cell

REASON_COLUMNS = ["row_number", "column", "reason"]


def default_path(source: Path) -> Path:
    """Where rejects go when no path is given: beside the file, as NAME.rejects.csv."""
    return source.with_name(f"{source.stem}.rejects.csv")


class RejectsFile:
    """A CSV (UTF-8 with BOM, so Excel shows Chinese) opened on the first rejected row."""

    def __init__(self, path: Path, headers: list[str], *, always: bool) -> None:
        self.path = path
        self.headers = headers
        self.count = 0
        self._handle: IO[str] | None = None
        if always:
            self._open()

    def _open(self) -> None:
        self._handle = self.path.open("w", encoding="utf-8-sig", newline="")
        self._writer = csv.writer(self._handle)
        self._writer.writerow([*self.headers, *REASON_COLUMNS])

    def write(self, rejected: list[tuple[Record, RowError]]) -> None:
        """Append rows in file order and flush, so a stopped import keeps what it found."""
        if not rejected:
            return
        if self._handle is None:
            self._open()
        width = len(self.headers)
        for record, error in sorted(rejected, key=lambda item: item[0].row_number):
            cells = [_text(cell) for cell in record.cells[:width]]
            cells += [""] * (width - len(cells))
            self._writer.writerow([*cells, record.row_number, error.column, error.reason])
        self.count += len(rejected)
        assert self._handle is not None
        self._handle.flush()

    @property
    def written(self) -> bool:
        """Whether the file exists on disk."""
        return self._handle is not None

    def close(self) -> None:
        """Close the file if it was opened."""
        if self._handle is not None:
            self._handle.close()


def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, datetime | date):
        return cell.isoformat(sep=" ") if isinstance(cell, datetime) else cell.isoformat()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)
