"""Rebuild the initial migration from the models (only while no release has shipped it)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from patron.analytics.models import ScoreSnapshot
from patron.db import create_db_engine
from patron.schema import MIGRATIONS, make_revision

for old in (MIGRATIONS / "versions").glob("*.py"):
    old.unlink()
with tempfile.TemporaryDirectory() as folder:
    make_revision(create_db_engine(f"sqlite:///{folder}/blank.db"), "the initial schema")
for new in (MIGRATIONS / "versions").glob("*.py"):
    text = new.read_text().replace("astext_type=Text()", "astext_type=sa.Text()")
    # The migration creates the column; it needs the type's DDL only, not Patron's code.
    text = text.replace("patron.db.JsonAsText()", "sa.Text()")
    # The snapshots' keys are SQLite's only (`ddl_if` in the model, which autogenerate drops);
    # PostgreSQL gets triggers instead (patron.analytics.snapshot_keys, from env.py).
    for key in (str(key.name) for key in ScoreSnapshot.__table__.foreign_key_constraints):
        constraint = re.search(rf"sa\.ForeignKeyConstraint\([^\n]*'{key}'\)[^\n]*?\)", text)
        assert constraint, f"the migration lacks {key}"
        text = text.replace(constraint[0], f"{constraint[0]}.ddl_if(dialect='sqlite')")
    new.write_text(text)
    print(f"wrote {new}")
