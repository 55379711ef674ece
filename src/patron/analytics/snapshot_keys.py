"""The score snapshots' two keys on PostgreSQL, checked once per statement instead of per row.

A run writes one snapshot per customer by COPY: a million rows at 1M customers. As foreign
keys, `customer_id` and `run_id` were checked row by row, each a lookup with a row lock
(`FOR KEY SHARE`), which writes to the locked row: every customer's row, once per run. That was
about 6.5 of the server's 16 CPU seconds for the snapshots at 1M, of which these triggers take
back under 2 (docs/benchmarks.md). On PostgreSQL statement triggers check the statement's rows
as a set instead, with the keys' guarantees for transactions at READ COMMITTED, as all of
Patron's writers are:

- a snapshot's customer and run exist, on insert and update (`foreign_key_violation`); the few
  runs named are locked `FOR KEY SHARE` as the key did, so a run being deleted meanwhile makes
  the check wait for that deletion and then fail;
- deleting a run deletes its snapshots (the key's `ON DELETE CASCADE`): the run's row lock
  makes the deletion wait for a run still writing snapshots of it;
- emptying the runs or the customers with TRUNCATE deletes the snapshots (`TRUNCATE … CASCADE`);
- changing the id of a customer or a run that has snapshots fails (the keys' `ON UPDATE NO
  ACTION`; Patron never changes an id, and the check runs only when one changes);
- deleting a customer who has snapshots fails. Before it deletes anything, a customer deletion
  takes a SHARE lock on the snapshots, which waits for a run still writing them (Patron only
  ever soft-deletes customers, so only SQL by hand waits there); a merge does the same
  (`hold_snapshots`), so the source's snapshots of a run still writing move with the others.

The models keep both keys (relationships, the order of tables in backups, loads and the
privacy export), with their DDL for SQLite only (`ddl_if`), where snapshots are written by
executemany and the keys cost little; the migration environment installs these triggers.
No percent sign in the SQL below: the driver would read it as a parameter.
"""

from __future__ import annotations

from sqlalchemy import Connection

_FUNCTIONS = (
    """
CREATE OR REPLACE FUNCTION patron_snapshot_keys() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  missing text;
  runs bigint[];
BEGIN
  SELECT 'customer ' || n.customer_id INTO missing FROM new_rows n
  WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = n.customer_id) LIMIT 1;
  IF missing IS NULL THEN
    -- The statement's runs (a run's COPY names one) in one narrow pass over its rows.
    SELECT array_agg(d.run_id) INTO runs FROM (SELECT DISTINCT run_id FROM new_rows) d;
    -- Locked as the key locked them: a run deleted meanwhile is waited for, then missing.
    PERFORM 1 FROM scoring_runs r WHERE r.id = ANY (runs) FOR KEY SHARE;
    SELECT 'scoring run ' || n.id INTO missing FROM unnest(runs) AS n(id)
    WHERE NOT EXISTS (SELECT 1 FROM scoring_runs r WHERE r.id = n.id) LIMIT 1;
  END IF;
  IF missing IS NOT NULL THEN
    RAISE foreign_key_violation USING
      MESSAGE = 'a score snapshot names ' || missing || ', which does not exist',
      TABLE = 'score_snapshots';
  END IF;
  RETURN NULL;
END $$""",
    """
CREATE OR REPLACE FUNCTION patron_snapshot_customers_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  kept bigint;
BEGIN
  SELECT s.customer_id INTO kept FROM score_snapshots s JOIN old_rows o ON s.customer_id = o.id
  LIMIT 1;
  IF kept IS NOT NULL THEN
    RAISE foreign_key_violation USING
      MESSAGE = 'customer ' || kept || ' still has score snapshots',
      TABLE = 'customers';
  END IF;
  RETURN NULL;
END $$""",
    """
CREATE OR REPLACE FUNCTION patron_snapshot_customers_deleting() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- Before any row is deleted and locked, so a run still writing is waited for without
  -- the run waiting for the deleted rows in turn.
  LOCK TABLE score_snapshots IN SHARE MODE;
  RETURN NULL;
END $$""",
    """
CREATE OR REPLACE FUNCTION patron_snapshot_runs_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM score_snapshots s USING old_rows o WHERE s.run_id = o.id;
  RETURN NULL;
END $$""",
    """
CREATE OR REPLACE FUNCTION patron_snapshot_parent_renumbered() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- TG_ARGV[0] names the snapshots' column that refers to the row: run_id or customer_id.
  IF TG_ARGV[0] = 'run_id' THEN
    PERFORM 1 FROM score_snapshots WHERE run_id = OLD.id LIMIT 1;
  ELSE
    PERFORM 1 FROM score_snapshots WHERE customer_id = OLD.id LIMIT 1;
  END IF;
  IF FOUND THEN
    RAISE foreign_key_violation USING
      MESSAGE = TG_TABLE_NAME || ' row ' || OLD.id || ' has score snapshots; its id cannot change',
      TABLE = TG_TABLE_NAME;
  END IF;
  RETURN NULL;
END $$""",
    """
CREATE OR REPLACE FUNCTION patron_snapshot_parents_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- Not TRUNCATE: the same TRUNCATE statement may be emptying the snapshots too.
  DELETE FROM score_snapshots;
  RETURN NULL;
END $$""",
)

# name -> (table, the rest of its CREATE TRIGGER after "ON table")
TRIGGERS = {
    "score_snapshots_keys_ai": (
        "score_snapshots",
        "AFTER INSERT",
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION patron_snapshot_keys()",
    ),
    "score_snapshots_keys_au": (
        "score_snapshots",
        "AFTER UPDATE",
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION patron_snapshot_keys()",
    ),
    "score_snapshots_customer_bd": (
        "customers",
        "BEFORE DELETE",
        "FOR EACH STATEMENT EXECUTE FUNCTION patron_snapshot_customers_deleting()",
    ),
    "score_snapshots_customer_ad": (
        "customers",
        "AFTER DELETE",
        "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION patron_snapshot_customers_deleted()",
    ),
    "score_snapshots_run_ad": (
        "scoring_runs",
        "AFTER DELETE",
        "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION patron_snapshot_runs_deleted()",
    ),
    "score_snapshots_customer_au": (
        "customers",
        "AFTER UPDATE OF id",
        "FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) "
        "EXECUTE FUNCTION patron_snapshot_parent_renumbered('customer_id')",
    ),
    "score_snapshots_run_au": (
        "scoring_runs",
        "AFTER UPDATE OF id",
        "FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) "
        "EXECUTE FUNCTION patron_snapshot_parent_renumbered('run_id')",
    ),
    "score_snapshots_customer_at": (
        "customers",
        "AFTER TRUNCATE",
        "FOR EACH STATEMENT EXECUTE FUNCTION patron_snapshot_parents_truncated()",
    ),
    "score_snapshots_run_at": (
        "scoring_runs",
        "AFTER TRUNCATE",
        "FOR EACH STATEMENT EXECUTE FUNCTION patron_snapshot_parents_truncated()",
    ),
}


def install_snapshot_keys(connection: Connection) -> None:
    """Install the triggers on PostgreSQL (idempotent); nothing on SQLite, which has the keys."""
    if connection.dialect.name != "postgresql":
        return
    for function in _FUNCTIONS:
        connection.exec_driver_sql(function)
    for name, (table, event, rest) in TRIGGERS.items():
        connection.exec_driver_sql(f"CREATE OR REPLACE TRIGGER {name} {event} ON {table} {rest}")


def hold_snapshots(connection: Connection) -> None:
    """Wait for a run still writing snapshots to end, and keep other writers of snapshots
    out until this transaction ends (PostgreSQL): for a merge, whose source's snapshots must
    all move, those of a run not yet committed included. Take it before any row lock."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("LOCK TABLE score_snapshots IN SHARE ROW EXCLUSIVE MODE")
