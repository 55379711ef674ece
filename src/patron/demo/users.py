"""The demo's users, one or more per role, with passwords made up at load time."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from patron.auth.models import Role
from patron.auth.service import hash_password
from patron.db import now
from patron.demo.generator import AGENT_TEAMS, AGENTS
from patron.demo.vocabulary import vocabulary
from patron.models import Base


@dataclass(frozen=True)
class Login:
    """A demo user's name, password, role and team, printed once at the end of `patron demo`."""

    username: str
    password: str
    role: str
    team: str | None


def demo_users(locale: str) -> list[tuple[str, Role, str | None]]:
    """Username, role and team of every demo user; agents work in two teams."""
    teams = vocabulary(locale).teams
    agents = [(name, Role.agent, teams[t]) for name, t in zip(AGENTS, AGENT_TEAMS, strict=True)]
    return [
        ("demo-admin", Role.admin, None),
        ("demo-manager", Role.manager, None),
        *agents,
        ("demo-analyst", Role.analyst, None),
    ]


def ensure_users(connection: Connection, locale: str) -> tuple[dict[str, int], list[Login]]:
    """Create the demo users, or give existing ones fresh passwords; return ids and logins.

    Passwords are random on every run, so no demo installation shares a known secret.
    """
    table = Base.metadata.tables["users"]
    ids: dict[str, int] = {}
    logins = []
    for username, role, team in demo_users(locale):
        password = secrets.token_urlsafe(12)
        values = {
            "role": role,
            "team": team,
            "password_hash": hash_password(password),
            "active": True,
            "failed_logins": 0,
            "locked_until": None,
            "updated_at": now(),
        }
        found = connection.scalar(select(table.c.id).where(table.c.username == username))
        if found is None:
            found = connection.execute(
                insert(table)
                .values(username=username, display_name=username, created_at=now(), **values)
                .returning(table.c.id)
            ).scalar_one()
        else:
            connection.execute(update(table).where(table.c.id == found).values(**values))
        ids[username] = int(found)
        logins.append(Login(username, password, role.value, team))
    return ids, logins
