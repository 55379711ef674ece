"""Backup and restore round trips on SQLite and PostgreSQL, across kinds, and their refusals."""

from __future__ import annotations

import json
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, insert, select, text, update
from sqlalchemy.engine import make_url

from patron.backup.service import backup, read_manifest, restore
from patron.customers.models import Customer
from patron.db import create_db_engine
from patron.demo.loader import load
from patron.errors import Conflict, InvalidInput
from patron.models import Base
from patron.orders.models import Order
from patron.schema import migrate
from tests.cli.test_admin import patron
from tests.conftest import POSTGRES_URL
from tests.demo.conftest import make_spec


@pytest.fixture
def filled(db: Engine) -> Engine:
    """A database with the demo shop in it and one customer merged into a later one."""
    load(db, make_spec(customers=120))
    with db.begin() as connection:
        first, last = (
            connection.execute(select(Customer.id).order_by(Customer.id).limit(1)).scalar_one(),
            connection.execute(
                select(Customer.id).order_by(Customer.id.desc()).limit(1)
            ).scalar_one(),
        )
        connection.execute(update(Customer).where(Customer.id == first).values(merged_into_id=last))
    return db


@pytest.fixture
def other_engines(tmp_path: Path) -> Iterator[dict[str, Engine]]:
    """A fresh, empty database of each kind to restore into."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"patron_restore_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engines = {
        "sqlite": create_db_engine(f"sqlite:///{tmp_path / 'restored.db'}"),
        "postgresql": create_db_engine(
            make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        ),
    }
    try:
        yield engines
    finally:
        for engine in engines.values():
            engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


COLUMNS = {table.name: [c.name for c in table.columns] for table in Base.metadata.sorted_tables}


def contents(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order."""
    with engine.connect() as connection:
        return {
            table.name: [
                tuple(row)
                for row in connection.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in Base.metadata.sorted_tables
        }


@pytest.mark.parametrize("target", ["sqlite", "postgresql"])
def test_round_trip_restores_every_row(
    filled: Engine, other_engines: dict[str, Engine], tmp_path: Path, target: str
) -> None:
    file = tmp_path / "patron-backup.zip"
    made = backup(engine=filled, path=file)
    restored = restore(engine=other_engines[target], path=file)

    before, after = contents(filled), contents(other_engines[target])
    for name in before:
        for old, new in zip(before[name], after[name], strict=True):
            assert dict(zip(COLUMNS[name], new, strict=True)) == dict(
                zip(COLUMNS[name], old, strict=True)
            ), name
    assert after == before
    assert made.tables["orders"] == len(before["orders"]) > 0
    assert restored.as_dict()["rows"] == sum(len(rows) for rows in before.values())


def test_next_ids_come_after_the_restored_ones(
    filled: Engine, other_engines: dict[str, Engine], tmp_path: Path
) -> None:
    file = tmp_path / "patron-backup.zip"
    backup(engine=filled, path=file)
    target = other_engines[filled.dialect.name]
    restore(engine=target, path=file)
    with target.begin() as connection:
        highest = connection.scalar(select(Customer.id).order_by(Customer.id.desc()).limit(1))
        new_id = connection.execute(
            insert(Customer)
            .values(external_id="after-restore", name="新客户")
            .returning(Customer.id)
        ).scalar_one()
    assert new_id > highest


def test_backup_is_one_snapshot_while_others_write(filled: Engine, tmp_path: Path) -> None:
    written: list[str] = []

    def write_meanwhile(table: str, done: int, total: int) -> None:
        # Once customers are copied, a colleague adds a customer and an order in another connection.
        if table == "customers" and not written:
            with filled.begin() as connection:
                customer_id = connection.execute(
                    insert(Customer).values(external_id="late", name="迟到").returning(Customer.id)
                ).scalar_one()
                connection.execute(
                    insert(Order).values(
                        external_id="late-order",
                        customer_id=customer_id,
                        ordered_at=text("CURRENT_TIMESTAMP"),
                        amount=10,
                    )
                )
            written.append("late")

    file = tmp_path / "patron-backup.zip"
    summary = backup(engine=filled, path=file, progress=write_meanwhile)
    assert written == ["late"]
    with zipfile.ZipFile(file) as archive:
        orders = archive.read("tables/orders.jsonl").decode().splitlines()
    assert len(orders) == summary.tables["orders"]
    assert not any("late-order" in line for line in orders)


def test_restore_refuses_a_database_with_data_unless_replacing(
    filled: Engine, tmp_path: Path
) -> None:
    file = tmp_path / "patron-backup.zip"
    backup(engine=filled, path=file)
    with filled.begin() as connection:
        connection.execute(insert(Customer).values(external_id="new-since", name="新"))
    with pytest.raises(Conflict, match="--replace"):
        restore(engine=filled, path=file)

    restore(engine=filled, path=file, replace=True)
    with filled.connect() as connection:
        assert (
            connection.scalar(select(Customer.id).where(Customer.external_id == "new-since"))
            is None
        )


def test_a_damaged_backup_leaves_the_database_as_it_was(filled: Engine, tmp_path: Path) -> None:
    file = tmp_path / "patron-backup.zip"
    backup(engine=filled, path=file)
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(file) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "tables/orders.jsonl":
                data = b"\n".join(data.splitlines()[:-5]) + b"\n"
            target.writestr(item, data)
    before = contents(filled)
    with pytest.raises(InvalidInput, match="damaged: orders"):
        restore(engine=filled, path=damaged, replace=True)
    assert contents(filled) == before


def test_files_that_are_not_backups_are_refused(tmp_path: Path) -> None:
    not_zip = tmp_path / "notes.zip"
    not_zip.write_text("hello", encoding="utf-8")
    with pytest.raises(InvalidInput, match="not a Patron backup"):
        read_manifest(not_zip)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("manifest.json", json.dumps({"format": "something-else"}))
    with pytest.raises(InvalidInput, match="not a Patron backup"):
        read_manifest(other)
    with pytest.raises(InvalidInput, match="no backup file"):
        read_manifest(tmp_path / "missing.zip")


def test_cli_backup_and_restore(filled: Engine, db_url: str, tmp_path: Path) -> None:
    file = tmp_path / "nightly.zip"
    done = patron("--db", db_url, "backup", str(file), "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["rows"]
    assert rows == sum(len(table) for table in contents(filled).values())

    refused = patron("--db", db_url, "restore", str(file))
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines() == [
        "error: the database already holds data; restore with --replace to overwrite all of it"
    ]
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    restored = patron("--db", target, "restore", str(file), "--json")
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["rows"] == rows
    migrate(create_db_engine(target))
