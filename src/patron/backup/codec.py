"""Row values to JSON and back, guided by each column's type so a round trip is exact."""

from __future__ import annotations

import base64
import enum
import json
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Table

Decoder = Callable[[Any], Any]


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"cannot store a {type(value).__name__} in a backup")


def encode_row(values: tuple[Any, ...]) -> str:
    """One table row as a line of JSON (a list in column order)."""
    return json.dumps(values, default=_default, ensure_ascii=False, separators=(",", ":"))


def _python_type(column: Column[Any]) -> type | None:
    try:
        python_type: type = column.type.python_type
    except NotImplementedError:
        return None
    return python_type


def _decoder(column: Column[Any]) -> Decoder | None:
    python_type = _python_type(column)
    if python_type is None:
        return None
    if issubclass(python_type, datetime):
        return datetime.fromisoformat
    if issubclass(python_type, date):
        return date.fromisoformat
    if issubclass(python_type, time):
        return time.fromisoformat
    if issubclass(python_type, Decimal):
        return Decimal
    if issubclass(python_type, bytes):
        return base64.b64decode
    if issubclass(python_type, enum.Enum):
        return python_type
    return None


def row_decoder(table: Table, names: list[str]) -> Callable[[str], dict[str, Any]]:
    """A function turning one stored line back into a row of `table` ready to insert."""
    decoders = [_decoder(table.c[name]) for name in names]

    def decode(line: str) -> dict[str, Any]:
        values = json.loads(line)
        return {
            name: value if value is None or convert is None else convert(value)
            for name, convert, value in zip(names, decoders, values, strict=True)
        }

    return decode
