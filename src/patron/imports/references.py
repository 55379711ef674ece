"""The ids rows refer to by name: customers by their id, users by username, products."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ARRAY, Connection, String, Table, bindparam, column, func, select

from patron.auth.models import User
from patron.customers import normalise
from patron.customers.models import Customer
from patron.imports.bulk import insert_many
from patron.imports.writer import lookup
from patron.orders.models import Product

# Past this many cached ids the cache starts afresh, so memory stays bounded on huge files.
_CACHE_LIMIT = 1_000_000
customers_table = cast(Table, Customer.__table__)
products_table = cast(Table, Product.__table__)


class CustomerIds:
    """Customer external id -> database id, cached across the batches of one import."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}

    def find(self, conn: Connection, external_ids: Iterable[str]) -> Mapping[str, int]:
        """The ids of those customers that exist (and maybe of others seen before)."""
        wanted = set(external_ids)
        missing = wanted - self._ids.keys()
        if missing:
            if len(self._ids) + len(missing) > _CACHE_LIMIT:
                self._ids = {}
                missing = wanted
            self._ids.update(_customer_pks(conn, sorted(missing)))
        # The cache itself, typed read-only: copying out a batch's customers cost more than
        # the rest, and a read-only view makes each of a batch's look-ups a method call more.
        return self._ids

    def create(self, conn: Connection, external_ids: Iterable[str], *, at: datetime) -> None:
        """Create customers known only by their id (the id doubles as their name)."""
        rows = [_bare_customer(key, at) for key in sorted(set(external_ids))]
        insert_many(conn, customers_table, rows)

    def forget(self) -> None:
        """Drop the cache (after a rolled-back batch its ids may not exist)."""
        self._ids = {}


def _customer_pks(conn: Connection, keys: list[str]) -> Iterator[tuple[str, int]]:
    """(external id, id) of those customers stored, in one statement per database: the keys
    go as one array (PostgreSQL) or one JSON text (SQLite), not one parameter each."""
    external = customers_table.c.external_id
    if conn.dialect.name == "postgresql":
        wanted = bindparam("keys", keys, type_=ARRAY(String()))
        query = select(external, customers_table.c.id).where(external == func.any(wanted))
    else:
        keys_json = func.json_each(bindparam("keys", json.dumps(keys)))
        listed = select(column("value", String)).select_from(keys_json).scalar_subquery()
        query = select(external, customers_table.c.id).where(external.in_(listed))
    for key, pk in conn.execute(query):
        yield str(key), int(pk)


def id_initials(external_id: str) -> str:
    """`normalise.initials` of an id; ASCII ids (nearly all) skip the pinyin segmenter.

    Pinyin leaves ASCII text as it is, so its initials are the first letters of its words;
    the segmenter costs about a tenth of an orders import that creates its customers.
    """
    if not external_id.isascii():
        return normalise.initials(external_id)
    # ASCII is its own NFKC form, and splitting on whitespace runs needs no collapsing first:
    # `normalise.name(external_id).split()`, without building the normalised text.
    words = external_id.split()
    return "".join(word[0].lower() for word in words if word[:1].isalnum())[:64]


def _bare_customer(external_id: str, at: datetime) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "name": external_id,
        "name_initials": id_initials(external_id),
        "kind": "person",
        "locked": False,
        "consent": {},
        "custom_fields": {},
        "created_at": at,
        "updated_at": at,
    }


def user_ids(conn: Connection) -> dict[str, int]:
    """Lower-cased username -> user id, for every user (there are few)."""
    rows = conn.execute(select(func.lower(User.username), User.id))
    return {str(name): int(pk) for name, pk in rows}


def product_ids(
    conn: Connection, names: dict[str, str | None], *, at: datetime, write: bool
) -> dict[str, int]:
    """Create or rename the products a batch names; their external id -> database id."""
    stored = lookup(conn, products_table, list(names), "id", "name")
    if write:
        new = [
            {"external_id": key, "name": name or key, "created_at": at, "updated_at": at}
            for key, name in names.items()
            if key not in stored
        ]
        renamed = [
            (key, name)
            for key, name in names.items()
            if key in stored and name and stored[key][1] != name
        ]
        if new:
            conn.execute(products_table.insert(), new)
        for key, name in renamed:
            conn.execute(
                products_table.update()
                .where(products_table.c.external_id == key)
                .values(name=name, updated_at=at)
            )
        if new:
            stored = lookup(conn, products_table, list(names), "id", "name")
    return {key: row[0] for key, row in stored.items()}
