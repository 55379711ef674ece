"""The migrations and the models describe the same schema."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from patron.knowledge.search import FTS_TABLE, PG_INDEX
from patron.models import Base

# The knowledge search builds these itself on first use (FTS5 table, trigram index): they are
# not part of the models, so the comparison leaves them out (with FTS5's shadow tables).
SEARCH_OBJECTS = {PG_INDEX, FTS_TABLE}


def _name(change: tuple[object, ...]) -> str | None:
    item = change[1]
    return getattr(item, "name", None)


def test_migrations_match_the_models(db: Engine) -> None:
    with db.connect() as connection:
        drift = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    kept = [c for c in drift if not str(_name(c)).startswith(tuple(SEARCH_OBJECTS))]
    assert kept == []
