"""The migrations and the models describe the same schema."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, Index, text

from patron.analytics.kpi_store import PREFIXES as KPI_STORE
from patron.analytics.models import ScoreSnapshot
from patron.customers import bigrams
from patron.knowledge.search import FTS_TABLE, PG_INDEX
from patron.models import Base

# The knowledge search builds these itself on first use (FTS5 table, trigram index), and the
# migration environment the name pieces' index: they are not part of the models, so the
# comparison leaves them out (with FTS5's shadow tables).
SEARCH_OBJECTS = {PG_INDEX, FTS_TABLE, bigrams.INDEX}
# The KPI store's derived tables and indexes are likewise built at first use (docs/kpi.md).
FIRST_USE = (*SEARCH_OBJECTS, *KPI_STORE)


def _ordered_indexes() -> dict[str, Index]:
    """Indexes whose PostgreSQL columns carry an order (`DESC NULLS LAST`) in their options.

    PostgreSQL reflects such columns as expressions, which autogenerate cannot compare with
    plain columns, so these are checked on their own against the server's definition.
    """
    return {
        str(index.name): index
        for table in Base.metadata.tables.values()
        for index in table.indexes
        if any("DESC" in op for op in index.dialect_options["postgresql"]["ops"].values())
    }


def _name(change: tuple[object, ...]) -> str | None:
    item = change[1]
    return getattr(item, "name", None)


def test_migrations_match_the_models(db: Engine) -> None:
    ordered = _ordered_indexes() if db.dialect.name == "postgresql" else {}
    with db.connect() as connection:
        drift = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    # PostgreSQL checks the snapshots' keys with triggers (tests/analytics/test_snapshot_keys.py).
    snapshot_keys = {key.name for key in ScoreSnapshot.__table__.foreign_key_constraints}
    triggered = snapshot_keys if db.dialect.name == "postgresql" else set()
    kept = [
        change
        for change in drift
        if not str(_name(change)).startswith(FIRST_USE)
        and _name(change) not in ordered
        and not (change[0] == "add_fk" and _name(change) in triggered)
    ]
    assert kept == []


def test_ordered_indexes_have_their_order_on_postgresql(db: Engine) -> None:
    if db.dialect.name != "postgresql":
        return  # SQLite builds them as plain indexes, which the comparison above checks
    ordered = _ordered_indexes()
    assert ordered, "the ranked customer indexes should be found here"
    with db.connect() as connection:
        rows = connection.execute(text("SELECT indexname, indexdef FROM pg_indexes"))
        definitions: dict[str, str] = {row.indexname: row.indexdef for row in rows}
    for name, index in ordered.items():
        ops = index.dialect_options["postgresql"]["ops"]
        columns = ", ".join(f"{column.name} {ops[column.name]}" for column in index.columns)
        expected = f"({columns})"
        partial = index.dialect_options["postgresql"]["where"]
        if partial is not None:
            where = db.dialect.statement_compiler(db.dialect, None).process(
                partial, include_table=False
            )
            expected += f" WHERE ({where})"
        assert definitions[name].endswith(expected), definitions.get(name)
