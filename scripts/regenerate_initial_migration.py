"""Rebuild the initial migration from the models (only while no release has shipped it)."""

from __future__ import annotations

import tempfile
from pathlib import Path

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
    new.write_text(text)
    print(f"wrote {new}")
