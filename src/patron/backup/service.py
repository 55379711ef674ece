"""`patron backup FILE` and `patron restore FILE`.

A backup is a zip file: `manifest.json` (format, schema revision, tables with their columns and
row counts) and one JSON-lines member per table. It is read inside one snapshot (a REPEATABLE READ
transaction on PostgreSQL, one read transaction on SQLite), so it is consistent while the server
keeps writing. The same file restores into SQLite or PostgreSQL. A restore runs in one transaction:
it either replaces everything or leaves the database as it was.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, Integer, Table, func, select, text, update

from patron.backup.codec import encode_row, row_decoder
from patron.db import now
from patron.errors import Conflict, InvalidInput
from patron.models import Base
from patron.schema import migrate

FORMAT = "patron-backup"
FORMAT_VERSION = 1
BATCH = 5_000
MANIFEST = "manifest.json"

# Called with the table being copied and the rows copied so far in the whole run.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Summary:
    """What a backup holds or a restore loaded."""

    path: Path
    schema_revision: str | None
    tables: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "schema_revision": self.schema_revision,
            "tables": len(self.tables),
            "rows": sum(self.tables.values()),
        }


def _tables() -> list[Table]:
    return list(Base.metadata.sorted_tables)


def _member(table: Table) -> str:
    return f"tables/{table.name}.jsonl"


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _begin_snapshot(connection: Connection) -> None:
    # Every table must be read from the same moment, or rows would point at rows not copied.
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    else:
        connection.exec_driver_sql("BEGIN")


def _count(connection: Connection, table: Table) -> int:
    return connection.scalar(select(func.count()).select_from(table)) or 0


def backup(*, engine: Engine, path: Path, progress: Progress | None = None) -> Summary:
    """Write every table of the database to `path` from one consistent snapshot."""
    partial = path.with_name(path.name + ".partial")
    with engine.connect() as connection:
        _begin_snapshot(connection)
        revision = _revision(connection)
        counts = {table.name: _count(connection, table) for table in _tables()}
        total, done = sum(counts.values()), 0
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for table in _tables():
                for rows in _dump(connection, archive, table):
                    done += rows
                    if progress is not None:
                        progress(table.name, done, total)
            archive.writestr(MANIFEST, json.dumps(_manifest(engine, revision, counts), indent=2))
    # A backup cut short never leaves a file that looks whole.
    partial.replace(path)
    return Summary(path=path, schema_revision=revision, tables=counts)


def _manifest(engine: Engine, revision: str | None, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "patron_version": version("patron"),
        "schema_revision": revision,
        "made_from": engine.dialect.name,
        "created_at": now().isoformat(),
        "tables": {
            table.name: {"rows": counts[table.name], "columns": [c.name for c in table.columns]}
            for table in _tables()
        },
    }


def _dump(connection: Connection, archive: zipfile.ZipFile, table: Table) -> Iterator[int]:
    query = select(table).order_by(*table.primary_key.columns)
    result = connection.execution_options(yield_per=BATCH).execute(query)
    with (
        archive.open(_member(table), "w", force_zip64=True) as member,
        io.TextIOWrapper(member, encoding="utf-8") as stream,
    ):
        for rows in result.partitions():
            stream.writelines(encode_row(tuple(row)) + "\n" for row in rows)
            yield len(rows)


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of a backup file, or a plain error when the file is not one."""
    try:
        with zipfile.ZipFile(path) as archive:
            manifest: dict[str, Any] = json.loads(archive.read(MANIFEST))
    except FileNotFoundError as exc:
        raise InvalidInput(f"no backup file at {path}") from exc
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path} is not a Patron backup (or it is damaged)") from exc
    if manifest.get("format") != FORMAT:
        raise InvalidInput(f"{path} is not a Patron backup")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise InvalidInput(
            f"{path} uses backup format {manifest.get('format_version')}; "
            f"this Patron reads format {FORMAT_VERSION}"
        )
    return manifest


def restore(
    *, engine: Engine, path: Path, replace: bool = False, progress: Progress | None = None
) -> Summary:
    """Replace the database's contents with the backup at `path`, all or nothing."""
    manifest = read_manifest(path)
    migrate(engine)
    with engine.begin() as connection, zipfile.ZipFile(path) as archive:
        _check_compatible(connection, manifest, path)
        if not replace and _holds_data(connection):
            raise Conflict(
                "the database already holds data; restore with --replace to overwrite all of it"
            )
        _empty(connection)
        total = sum(entry["rows"] for entry in manifest["tables"].values())
        done = 0
        for table in _tables():
            columns = manifest["tables"][table.name]["columns"]
            # Rows the database made itself while earlier tables loaded (each restored
            # customer's empty score row) make way for the backup's own.
            connection.execute(table.delete())
            for rows in _load(connection, archive, table, columns):
                done += rows
                if progress is not None:
                    progress(table.name, done, total)
            _check_count(connection, table, manifest["tables"][table.name]["rows"])
        _reset_sequences(connection)
    counts = {name: entry["rows"] for name, entry in manifest["tables"].items()}
    return Summary(path=path, schema_revision=manifest["schema_revision"], tables=counts)


def _check_compatible(connection: Connection, manifest: dict[str, Any], path: Path) -> None:
    current = _revision(connection)
    if manifest["schema_revision"] != current:
        raise InvalidInput(
            f"{path} was made with schema revision {manifest['schema_revision']}, this database "
            f"is at {current}: restore it with the Patron version that made it"
        )
    missing = {table.name for table in _tables()} - set(manifest["tables"])
    if missing:
        raise InvalidInput(f"{path} lacks the tables {', '.join(sorted(missing))}")


def _holds_data(connection: Connection) -> bool:
    return any(
        connection.execute(select(table).limit(1)).first() is not None for table in _tables()
    )


def _empty(connection: Connection) -> None:
    tables = _tables()
    if connection.dialect.name == "postgresql":
        names = ", ".join(f'"{table.name}"' for table in tables)
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        return
    for table in reversed(tables):
        connection.execute(table.delete())


def _self_references(table: Table) -> list[str]:
    return [key.parent.name for key in table.foreign_keys if key.column.table is table]


def _load(
    connection: Connection, archive: zipfile.ZipFile, table: Table, columns: list[str]
) -> Iterator[int]:
    unknown = set(columns) - set(table.c.keys())
    if unknown:
        raise InvalidInput(f"the backup's {table.name} has unknown columns {sorted(unknown)}")
    decode = row_decoder(table, columns)
    # A row may point at a row of its own table further down: link those after all are in.
    later = _self_references(table)
    links: list[dict[str, Any]] = []
    with archive.open(_member(table)) as member:
        batch: list[dict[str, Any]] = []
        for line in io.TextIOWrapper(member, encoding="utf-8"):
            row = decode(line)
            if later and any(row.get(name) is not None for name in later):
                links.append(row.copy())
                row.update(dict.fromkeys(later))
            batch.append(row)
            if len(batch) == BATCH:
                connection.execute(table.insert(), batch)
                yield len(batch)
                batch = []
        if batch:
            connection.execute(table.insert(), batch)
            yield len(batch)
    _link(connection, table, later, links)


def _link(
    connection: Connection, table: Table, names: list[str], rows: list[dict[str, Any]]
) -> None:
    keys = [column.name for column in table.primary_key.columns]
    # Columns stamped on update (updated_at) keep their restored value too.
    stamped = [column.name for column in table.columns if column.onupdate is not None]
    for row in rows:
        where = [table.c[key] == row[key] for key in keys]
        values = {name: row[name] for name in [*names, *stamped] if name in row}
        connection.execute(update(table).where(*where).values(values))


def _check_count(connection: Connection, table: Table, expected: int) -> None:
    # Checked before the next table loads, so a cut-short member is named, not a later row.
    found = _count(connection, table)
    if found != expected:
        raise InvalidInput(
            f"the backup is damaged: {table.name} should hold {expected} rows, it held {found}"
        )


def _reset_sequences(connection: Connection) -> None:
    # Restored ids were written explicitly; the next id handed out must come after them.
    if connection.dialect.name != "postgresql":
        return
    for table in _tables():
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or not isinstance(keys[0].type, Integer):
            continue
        key = keys[0].name
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence(:table, :key), "
                f'COALESCE(MAX("{key}"), 1), MAX("{key}") IS NOT NULL) FROM "{table.name}"'
            ),
            {"table": table.name, "key": key},
        )
