"""The CSV files an import writes beside the database: refused rows, possible duplicates."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO


def beside(source: Path, what: str) -> Path:
    """Where a report goes when no path is given: next to the file, as NAME.WHAT.csv."""
    return source.with_name(f"{source.stem}.{what}.csv")


class CsvReport:
    """A CSV (UTF-8 with BOM, so Excel shows Chinese) made on its first row, unless `always`."""

    def __init__(self, path: Path, header: Sequence[str], *, always: bool) -> None:
        self.path = path
        self.header = list(header)
        self.count = 0
        self._handle: IO[str] | None = None
        if always:
            self._open()

    def _open(self) -> None:
        self._handle = self.path.open("w", encoding="utf-8-sig", newline="")
        self._writer = csv.writer(self._handle)
        self._writer.writerow(self.header)

    def append(self, rows: Iterable[Sequence[object]]) -> None:
        """Append rows and flush, so a stopped import keeps what it found."""
        rows = list(rows)
        if not rows:
            return
        if self._handle is None:
            self._open()
        assert self._handle is not None
        self._writer.writerows(rows)
        self.count += len(rows)
        self._handle.flush()

    @property
    def written(self) -> bool:
        """Whether the file exists on disk."""
        return self._handle is not None

    def close(self) -> None:
        """Close the file if it was opened."""
        if self._handle is not None:
            self._handle.close()
