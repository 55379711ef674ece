from __future__ import annotations

import json
import subprocess
import sys

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.auth.models import Role, User


def patron(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run the real command line in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "patron", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def test_init_is_idempotent(db_url: str) -> None:
    for _ in range(2):
        done = patron("--db", db_url, "init")
        assert done.returncode == 0, done.stderr
        assert "up to date" in done.stdout


def test_user_add_hashes_the_password(db_url: str, sessions: sessionmaker[Session]) -> None:
    done = patron(
        "--db",
        db_url,
        "user",
        "add",
        "li.lei",
        "--role",
        "agent",
        "--team",
        "east",
        "--password-stdin",
        "--json",
        stdin="correct horse\n",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["role"] == "agent"
    with sessions() as session:
        user = session.scalars(select(User).where(User.username == "li.lei")).one()
    assert user.role is Role.agent and user.team == "east"
    assert user.password_hash and user.password_hash.startswith("$argon2id$")


def test_errors_are_one_plain_line(db_url: str) -> None:
    patron("--db", db_url, "user", "add", "wang", "--role", "admin")
    again = patron("--db", db_url, "user", "add", "wang", "--role", "admin")
    assert again.returncode != 0
    assert again.stderr.strip() == "error: a user named 'wang' already exists"
    unreachable = patron("--db", "postgresql+psycopg://root@127.0.0.1:1/none", "init")
    assert unreachable.returncode != 0
    assert len(unreachable.stderr.strip().splitlines()) == 1
    assert "cannot reach the database" in unreachable.stderr
