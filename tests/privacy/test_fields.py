"""No personal column slips past an erasure: each is erased or kept with a reason."""

from __future__ import annotations

from sqlalchemy import JSON, Date, DateTime, String

from patron.privacy.fields import DELETED, ERASED, KEPT
from patron.privacy.service import linked_tables


def _sensitive_columns(table_name: str) -> set[str]:
    from patron.models import Base

    table = Base.metadata.tables[table_name]
    return {
        column.name
        for column in table.columns
        if isinstance(column.type, String | JSON)
        or (isinstance(column.type, Date) and not isinstance(column.type, DateTime))
    }


def test_every_text_json_and_date_column_is_classified() -> None:
    tables = ["customers", *(table.name for table, _ in linked_tables())]
    unclassified = {
        name: sorted(
            _sensitive_columns(name) - set(ERASED.get(name, {})) - KEPT.get(name, frozenset())
        )
        for name in tables
        if name not in DELETED
    }
    assert {name: cols for name, cols in unclassified.items() if cols} == {}


def test_the_lists_name_real_columns() -> None:
    from patron.models import Base

    for name, columns in [*ERASED.items(), *KEPT.items()]:
        assert set(columns) <= set(Base.metadata.tables[name].c.keys()), name
