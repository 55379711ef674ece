"""Reading CSV and XLSX files row by row, whatever their encoding, without loading them whole."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol, TypeVar

from charset_normalizer import from_bytes
from openpyxl import load_workbook

from patron.errors import FileUnreadable
from patron.imports.values import Cell

SAMPLE_BYTES = 256 * 1024
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"
# charset-normalizer names the Chinese encodings several ways; GB18030 decodes all of them.
_CHINESE = {"gb2312", "gbk", "gb18030", "hz", "hz_gb_2312", "cp936", "euc_cn"}
csv.field_size_limit(16 * 1024 * 1024)
T = TypeVar("T")
# A batch of data rows: their row numbers, and their cells.
Numbered = tuple[list[int], list[list[Cell]]]


class Source(Protocol):
    """An open import file: its header, its data rows, and how far reading has got."""

    headers: list[str]
    total: int

    def rows(self) -> Iterator[tuple[int, list[Cell]]]:
        """Data rows with their row number as a spreadsheet shows it (the header is row 1)."""
        ...

    def batches(self, size: int) -> Iterator[Numbered]:
        """The same rows, `size` at a time: their numbers, and their cells."""
        ...

    def position(self) -> int:
        """Progress so far, in the unit of `total`."""
        ...

    def close(self) -> None:
        """Release the file."""
        ...


def open_source(path: Path) -> Source:
    """Open a CSV or XLSX file, or fail with one plain reason before anything is written."""
    if not path.is_file():
        raise FileUnreadable(f"{path} does not exist or is not a file")
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
    if not sample.strip():
        raise FileUnreadable(f"{path.name} is empty")
    if sample.startswith(_ZIP_MAGIC):
        return XlsxSource(path)
    if sample.startswith(_OLE_MAGIC):
        raise FileUnreadable(
            f"{path.name} is an old Excel (.xls) file: save it as .xlsx or CSV and import again"
        )
    return CsvSource(path, detect_encoding(sample, path.name))


def detect_encoding(sample: bytes, name: str) -> str:
    """UTF-8 (with or without BOM) first, then what charset-normalizer finds in the sample."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        # The sample may end inside a character: an incremental decoder tolerates that.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=len(sample) < SAMPLE_BYTES)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if b"\x00" in sample:
        raise FileUnreadable(f"{name} is neither a CSV nor an XLSX file")
    best = from_bytes(sample).best()
    if best is None:
        raise FileUnreadable(f"{name} is neither a CSV nor an XLSX file (unknown text encoding)")
    encoding = best.encoding.lower()
    return "gb18030" if encoding in _CHINESE else encoding


@dataclass
class CsvSource:
    """A delimited text file, decoded as it streams."""

    path: Path
    encoding: str
    headers: list[str] = field(default_factory=list)
    total: int = 0
    _binary: IO[bytes] | None = None
    _reader: Iterator[list[str]] | None = None

    def __post_init__(self) -> None:
        self.total = self.path.stat().st_size
        self._binary = self.path.open("rb")
        probe = io.TextIOWrapper(self._binary, encoding=self.encoding, newline="")
        first = self._decode(probe.readline)
        delimiter = "\t" if first.count("\t") > first.count(",") else ","
        if first.count(";") > max(first.count(","), first.count("\t")):
            delimiter = ";"
        # Read again from the start, straight from the file: no Python between it and csv.
        probe.detach()
        self._binary.seek(0)
        stream = io.TextIOWrapper(self._binary, encoding=self.encoding, newline="")
        reader = csv.reader(stream, delimiter=delimiter)
        self._reader = reader
        self.headers = [cell.strip() for cell in self._decode(lambda: next(reader, []))]
        if not any(self.headers):
            raise FileUnreadable(f"{self.path.name} has no header row")

    def _decode(self, read: Callable[[], T]) -> T:
        try:
            return read()
        except UnicodeDecodeError as exc:
            raise self._unreadable(f"is not valid {self.encoding} text ({exc.reason})") from exc
        except csv.Error as exc:
            raise self._unreadable(f"is not a readable CSV file ({exc})") from exc

    def batches(self, size: int) -> Iterator[Numbered]:
        """Data rows `size` at a time (fewer where blank lines were skipped), numbered."""
        reader = self._reader
        assert reader is not None
        number = 2
        while rows := self._decode(lambda: list(itertools.islice(reader, size))):
            numbers = list(range(number, number + len(rows)))
            number += len(rows)
            # `any` over each row in C; only a batch with blank lines pays for filtering.
            if not all(map(any, rows)):
                kept = [i for i, row in enumerate(rows) if any(row)]
                numbers, rows = [numbers[i] for i in kept], [rows[i] for i in kept]
            yield numbers, rows  # type: ignore[misc]

    def _unreadable(self, reason: str) -> FileUnreadable:
        return FileUnreadable(f"{self.path.name} {reason}")

    def rows(self) -> Iterator[tuple[int, list[Cell]]]:
        """Data rows, blank lines skipped, numbered as a spreadsheet numbers them."""
        reader = self._reader
        assert reader is not None
        try:
            # Blank lines and rows of empty cells are skipped.
            yield from filter(_has_content, enumerate(reader, start=2))
        except UnicodeDecodeError as exc:
            raise self._unreadable(f"is not valid {self.encoding} text ({exc.reason})") from exc
        except csv.Error as exc:
            raise self._unreadable(f"is not a readable CSV file ({exc})") from exc

    def position(self) -> int:
        """Bytes read so far (to within one buffer)."""
        return self._binary.tell() if self._binary and not self._binary.closed else self.total

    def close(self) -> None:
        """Close the file."""
        if self._binary is not None:
            self._binary.close()


def _has_content(numbered: tuple[int, list[str]]) -> bool:
    return any(numbered[1])


# A workbook's parts as the zip declares them; reading never goes past a declared size, so the
# check holds. Real sheets pack 5-20 times; a bomb packs hundreds or thousands of times.
MAX_UNPACKED_BYTES = 2 * 1024**3
MAX_RATIO = 100
RATIO_CHECKED_FROM = 64 * 1024**2


def refuse_zip_bomb(path: Path) -> None:
    """Fail before unzipping a workbook that would unpack to far more than it holds."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise FileUnreadable(f"{path.name} is not a readable XLSX file ({exc})") from exc
    unpacked = sum(part.file_size for part in parts)
    swollen = [
        part.filename
        for part in parts
        if part.file_size > RATIO_CHECKED_FROM
        and part.file_size > MAX_RATIO * max(part.compress_size, 1)
    ]
    if unpacked > MAX_UNPACKED_BYTES or swollen:
        raise FileUnreadable(
            f"{path.name} would unpack to {unpacked / 1024**2:,.0f} MB from "
            f"{path.stat().st_size / 1024**2:,.1f} MB: refused as a possible zip bomb; "
            "save the sheet as CSV and import that"
        )


@dataclass
class XlsxSource:
    """The first worksheet of an XLSX workbook, read in openpyxl's streaming mode."""

    path: Path
    headers: list[str] = field(default_factory=list)
    total: int = 0
    _read: int = 0
    _rows: Iterator[tuple[Cell, ...]] | None = None

    def __post_init__(self) -> None:
        refuse_zip_bomb(self.path)
        try:
            self._book = load_workbook(self.path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
            raise FileUnreadable(f"{self.path.name} is not a readable XLSX file ({exc})") from exc
        sheet = self._book.worksheets[0]
        self.total = max((sheet.max_row or 1) - 1, 0)
        self._rows = sheet.iter_rows(values_only=True)
        header = next(self._rows, None)
        self.headers = [_header(cell) for cell in header or ()]
        while self.headers and not self.headers[-1]:
            self.headers.pop()
        if not self.headers:
            raise FileUnreadable(f"{self.path.name} has no header row in its first sheet")

    def rows(self) -> Iterator[tuple[int, list[Cell]]]:
        """Data rows, empty ones skipped, with the worksheet's own row numbers."""
        assert self._rows is not None
        for number, row in enumerate(self._rows, start=2):
            self._read = number - 1
            cells = [cell.strip() if isinstance(cell, str) else cell for cell in row]
            if any(cell not in (None, "") for cell in cells):
                yield number, cells

    def batches(self, size: int) -> Iterator[Numbered]:
        """Data rows `size` at a time, numbered as the worksheet numbers them."""
        rows = self.rows()
        while chunk := list(itertools.islice(rows, size)):
            yield [number for number, _ in chunk], [cells for _, cells in chunk]

    def position(self) -> int:
        """Rows read so far."""
        return self._read

    def close(self) -> None:
        """Close the workbook."""
        self._book.close()


def _header(cell: Cell) -> str:
    return "" if cell is None else str(cell).strip()
