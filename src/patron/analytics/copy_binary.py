"""Arrow batches as rows of PostgreSQL's binary COPY format.

The text format costs the server a pass over every byte to split fields and undo escapes; a
binary row gives each field's length first, so the server copies text as it is (a run's
snapshot COPY at 1M customers took the server about two thirds of the time as binary). The
format: a signature, then per row the number of fields and each field as a 4-byte length (-1
for NULL) and the value in its type's binary form (integers and floats big-endian, text as
UTF-8, timestamps as microseconds since 2000); a 2-byte -1 ends the data.

Only columns whose Arrow type matches the target column's type exactly are encoded here
(`encoder` says None otherwise, and the caller sends text): a text-format COPY makes the
server convert other pairs, such as a decimal into a float, and its conversion is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # the signature, no flags, no header extension
TRAILER = b"\xff\xff"
_NOTHING = pa.scalar(b"", pa.large_binary())  # what the fields of a row are joined with

# Binary forms by the target column's type name (`pg_type.typname`).
_NUMBERS = {"int8": ">i8", "int4": ">i4", "int2": ">i2", "float8": ">f8", "float4": ">f4"}
_TEXTS = {"text", "varchar", "json"}
_DAYS_1970_TO_2000 = 10_957
_MICROSECONDS_1970_TO_2000 = _DAYS_1970_TO_2000 * 86_400 * 1_000_000
# Infinite dates and times: DuckDB's sentinels and PostgreSQL's.
_INT64 = np.iinfo(np.int64)
_INT32 = np.iinfo(np.int32)

Encoder = Callable[[pa.RecordBatch], pa.Array]
Field = Callable[[pa.Array], list[pa.Array]]


def column_kinds(cursor: Any, target: str) -> list[str] | None:
    """The type names of the columns `target` ("table (a, b)" or "table") names, in its
    order, read from the server; None when a name is not one of the table's columns."""
    table, _, listed = target.partition("(")
    rows = cursor.execute(
        "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        (table.strip(),),
    ).fetchall()
    kinds = dict(rows)
    names = [name.strip() for name in listed.rstrip(") ").split(",")] if listed else list(kinds)
    if any(name not in kinds for name in names):
        return None
    return [kinds[name] for name in names]


def encoder(schema: pa.Schema, kinds: list[str]) -> Encoder | None:
    """A function making each batch of `schema` one binary-format row per element, for target
    columns of the types `kinds`; None when a column has no exact binary form here."""
    if len(schema) != len(kinds):
        return None
    found = [_field(column.type, kind) for column, kind in zip(schema, kinds, strict=True)]
    fields = [field for field in found if field is not None]
    if len(fields) < len(found):
        return None
    count = np.array([len(kinds)], ">i2").tobytes()

    def rows(batch: pa.RecordBatch) -> pa.Array:
        pieces = [_fixed(np.tile(np.frombuffer(count, np.uint8), len(batch)), len(count))]
        for field, column in zip(fields, batch.columns, strict=True):
            pieces += field(column)
        return pc.binary_join_element_wise(*pieces, _NOTHING)

    return rows


def _field(kind: pa.DataType, target: str) -> Field | None:
    """How a column of the Arrow type becomes fields of the target type, if it can exactly."""
    exact = {
        "int8": pa.types.is_integer(kind),
        "int4": pa.types.is_integer(kind),
        "int2": pa.types.is_integer(kind),
        "float8": pa.types.is_integer(kind) or pa.types.is_floating(kind),
        "float4": kind == pa.float32(),
        "bool": pa.types.is_boolean(kind),
    }
    if exact.get(target):
        form = np.dtype(_NUMBERS.get(target, np.uint8))
        return lambda column: [_numbers(column, form)]
    if target in _TEXTS and (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return _text
    # Units that become microseconds exactly (a nanosecond's text the server would round).
    if target == "timestamp" and pa.types.is_timestamp(kind) and kind.tz is None:
        return _timestamps if kind.unit in ("s", "ms", "us") else None
    if target == "date" and pa.types.is_date32(kind):
        return _dates
    return None


def _numbers(column: pa.Array, form: np.dtype[Any]) -> pa.Array:
    """Fixed-width values as length and big-endian bytes; a value the target type cannot hold
    is refused (pyarrow's checked cast), as the server would refuse its text."""
    width = form.itemsize
    values = column.cast(pa.from_numpy_dtype(form.newbyteorder("=")))
    plain = values.fill_null(0).to_numpy(zero_copy_only=False)
    cells = np.empty((len(column), 4 + width), np.uint8)
    cells[:, :4] = np.frombuffer(np.array([width], ">i4").tobytes(), np.uint8)
    cells[:, 4:] = plain.astype(form).view(np.uint8).reshape(len(column), width)
    if not column.null_count:
        return _fixed(cells.reshape(-1), 4 + width)
    missing = np.asarray(column.is_null())
    cells[missing, :4] = 0xFF  # length -1, and no value bytes
    kept = np.ones(cells.shape, bool)
    kept[missing, 4:] = False
    offsets = np.zeros(len(column) + 1, np.int64)
    np.cumsum(np.where(missing, 4, 4 + width), out=offsets[1:])
    return _binary(offsets, cells[kept])


def _text(column: pa.Array) -> list[pa.Array]:
    """UTF-8 text after its byte length; NULL as length -1 with nothing after it."""
    lengths = pc.binary_length(column).fill_null(-1).to_numpy(zero_copy_only=False)
    prefix = _fixed(lengths.astype(">i4").view(np.uint8), 4)
    return [prefix, column.fill_null("").cast(pa.large_binary())]


def _timestamps(column: pa.Array) -> list[pa.Array]:
    micros = column.cast(pa.timestamp("us")).cast(pa.int64())
    return [_numbers(_shift(micros, _MICROSECONDS_1970_TO_2000, _INT64), np.dtype(">i8"))]


def _dates(column: pa.Array) -> list[pa.Array]:
    days = column.cast(pa.int32())
    return [_numbers(_shift(days, _DAYS_1970_TO_2000, _INT32), np.dtype(">i4"))]


def _shift(counts: pa.Array, epoch: int, limits: Any) -> pa.Array:
    """Counts since 1970 as counts since 2000 (PostgreSQL's epoch), NULL kept, infinity kept
    infinite: DuckDB's is the type's largest value and its negation, PostgreSQL's the largest
    and smallest."""
    values = counts.fill_null(0).to_numpy(zero_copy_only=False)
    shifted = np.select(
        [values == limits.max, values == -limits.max], [limits.max, limits.min], values - epoch
    )
    return pa.array(shifted.astype(limits.dtype), mask=np.asarray(counts.is_null()))


def _fixed(data: np.ndarray[Any, Any], width: int) -> pa.Array:
    """Bytes cut every `width` into a binary array."""
    count = len(data) // width
    return _binary(np.arange(0, (count + 1) * width, width, dtype=np.int64), data)


def _binary(offsets: np.ndarray[Any, Any], data: np.ndarray[Any, Any]) -> pa.Array:
    return pa.Array.from_buffers(
        pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
