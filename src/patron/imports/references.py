"""The ids rows refer to by name: customers by their id, users by username, products."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ARRAY, Connection, String, Table, bindparam, column, func, select

from patron.auth.models import User
from patron.customers import normalise
from patron.customers.models import Customer, CustomerScore
from patron.imports.bulk import insert_many
from patron.imports.writer import lookup
from patron.orders.models import Product

# Past this many cached ids the cache starts afresh, so memory stays bounded on huge files.
_CACHE_LIMIT = 1_000_000
customers_table = cast(Table, Customer.__table__)
scores_table = cast(Table, CustomerScore.__table__)
products_table = cast(Table, Product.__table__)


class CustomerIds:
    """Customer external id -> database id, cached across the batches of one import."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        # An orders import's customers by the number `CustomerNumbers` gave each: their ids
        # (None: not stored, in a dry run), their names, and the numbers not yet looked up.
        self._numbered: list[int | None] = []
        self._names: list[str] = []
        self._unresolved: list[int] = []

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

    def numbered(
        self, conn: Connection, new: NewCustomers, *, create: Callable[[set[str]], None] | None
    ) -> list[int | None]:
        """Database ids by customer number, once the batch's new customers are looked up and,
        with `create`, those not stored are created (else their id is None)."""
        if new.first == 0:  # the numbering started afresh
            self._numbered, self._names, self._unresolved = [], [], []
        if new.first != len(self._names):  # never, unless a batch was lost on the way
            raise RuntimeError(f"customer numbers from {new.first}, {len(self._names)} expected")
        self._unresolved += range(len(self._names), len(self._names) + len(new.names))
        self._names += new.names
        self._numbered += [None] * len(new.names)
        if self._unresolved:
            wanted = {self._names[number] for number in self._unresolved}
            found = dict(_customer_pks(conn, sorted(wanted)))
            unknown = wanted - found.keys()
            if unknown and create is not None:
                create(unknown)
                found.update(_customer_pks(conn, sorted(unknown)))
            for number in self._unresolved:
                self._numbered[number] = found.get(self._names[number])
            self._unresolved = []
        return self._numbered

    def forget(self) -> None:
        """Drop what is cached (after a rolled-back batch its ids may not exist)."""
        self._ids = {}
        self._numbered = [None] * len(self._names)
        self._unresolved = list(range(len(self._names)))


@dataclass
class NewCustomers:
    """The customer ids a batch of orders names for the first time in its import, numbered
    from `first` on (a `first` of 0 starts the numbering afresh)."""

    first: int
    names: list[str]


class CustomerNumbers:
    """Numbers the customer ids of an orders import 0, 1, 2, ... as they first appear.

    The parsing step (a second process on the command line) gives each order its customer's
    number and sends each id once, in `NewCustomers`; the storing step then finds a batch's
    customer ids by list position (`CustomerIds.numbered`) instead of hashing and looking up
    100,000 strings a batch, which had been an eighth of its time at 10 million orders.
    Past `limit` ids the numbering starts afresh, so memory stays bounded on huge files.
    """

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}
        self.limit = _CACHE_LIMIT

    def number(self, keys: list[str]) -> tuple[list[int], NewCustomers]:
        """Each key's number, and the keys not seen before."""
        if len(self._numbers) + len(keys) > self.limit:
            self._numbers = {}
        numbers = self._numbers
        first = len(numbers)
        # Each pass in C: the batch's distinct keys in order, the new ones numbered on from
        # `first` (a dict keeps its keys in the order they went in), then every key's number.
        new = [key for key in dict.fromkeys(keys) if key not in numbers]
        numbers.update(zip(new, range(first, first + len(new)), strict=True))
        return list(map(numbers.__getitem__, keys)), NewCustomers(first, new)


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
