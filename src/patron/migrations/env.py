"""Alembic environment: the connection comes from Patron, the metadata from patron.models."""

from alembic import context

from patron.models import Base

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Trigram indexes (customer name search) need the extension before any table.
        connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    context.run_migrations()
