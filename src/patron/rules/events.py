"""Event runs: a new order, ticket, interaction, survey answer or points change re-evaluates
that one customer's warnings at once, with the models' outputs from the last batch run.

An event is one row, so nothing is set up per event: the store's rows for the customer come
through the engine's pooled connection, the features from those rows in plain Python
(`analytics.features_one`, the same columns as the batch run's `FEATURES_SQL`), and the
warnings from the checked expressions evaluated in Python (`rules.single`), which decide
exactly as the batch path does. DuckDB, on a connection kept warm per thread, is used only
when a warning holds: `rules.actions` reads the decisions from it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
from sqlalchemy import Engine, select

from patron.analytics.features_one import customer_features
from patron.analytics.models import ScoreSnapshot
from patron.analytics.snapshots import plain
from patron.analytics.store import read_store
from patron.db import now
from patron.rules import versions
from patron.rules.actions import Applied, apply_decisions
from patron.rules.single import WarningDecisions, decide_warnings, with_kept_states

# Carried over from the customer's latest snapshot: the batch models and occasions.
CARRIED = {
    "r_score": int, "f_score": int, "m_score": int, "rfm_segment": str, "value_class": str,
    "p_alive": float, "expected_purchases": float, "expected_avg_value": float, "clv": float,
    "churn_risk": float, "days_to_birthday": float, "days_to_anniversary": float,
}  # fmt: skip

_warm = threading.local()


@dataclass
class EventOutcome:
    customer_id: int
    warnings: list[str] = field(default_factory=list)
    applied: dict[str, int] = field(default_factory=dict)


def _duckdb() -> duckdb.DuckDBPyConnection:
    """This thread's DuckDB connection, made once: a connection is not shared across threads."""
    con: duckdb.DuckDBPyConnection | None = getattr(_warm, "con", None)
    if con is None:
        con = duckdb.connect()
        con.execute("SET threads = 1")  # one customer's decisions: more threads only cost start-up
        _warm.con = con
    return con


def _features(engine: Engine, customer_id: int, moment: datetime) -> dict[str, Any] | None:
    """The customer's point-in-time features (None if the store has nothing on them)."""
    return customer_features(read_store(engine, moment, only=customer_id), moment)


def _carried(engine: Engine, customer_id: int) -> dict[str, Any]:
    with engine.connect() as connection:
        features = connection.execute(
            select(ScoreSnapshot.features)
            .where(ScoreSnapshot.customer_id == customer_id)
            .order_by(ScoreSnapshot.run_id.desc())
            .limit(1)
        ).scalar()
    found = features or {}
    return {
        name: None if found.get(name) is None else kind(found[name])
        for name, kind in CARRIED.items()
    }


def _stage_decisions(
    con: duckdb.DuckDBPyConnection, features: dict[str, Any], decided: WarningDecisions
) -> None:
    """The one-row `features` and `decisions` tables that `apply_decisions` reads."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE features AS SELECT $id::BIGINT AS customer_id, "
        "$name::VARCHAR AS name, $owner::BIGINT AS owner_id, "
        "$birthday::DOUBLE AS days_to_birthday, $anniversary::DOUBLE AS days_to_anniversary",
        {
            "id": features["customer_id"],
            "name": features["name"],
            "owner": features["owner_id"],
            "birthday": features["days_to_birthday"],
            "anniversary": features["days_to_anniversary"],
        },
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE decisions AS SELECT $id::BIGINT AS customer_id, "
        "$fired::VARCHAR[] AS warnings, $values::JSON AS warnings_values, "
        "[]::VARCHAR[] AS care, '{}'::JSON AS care_values",
        {
            "id": features["customer_id"],
            "fired": decided.fired,
            "values": json.dumps(plain(decided.values)),
        },
    )


def on_event(*, engine: Engine, customer_id: int, moment: datetime | None = None) -> EventOutcome:
    """Re-evaluate one customer's warnings as of now and take their actions once."""
    moment = moment or now()
    with engine.connect() as connection:
        version, rulebook = versions.active(connection)
    features = _features(engine, customer_id, moment)
    if features is None:
        return EventOutcome(customer_id=customer_id, applied=Applied().as_dict())
    features = with_kept_states({**features, **_carried(engine, customer_id)})
    decided = decide_warnings(rulebook, features)
    if not decided.fired:
        return EventOutcome(customer_id=customer_id, applied=Applied().as_dict())
    con = _duckdb()
    _stage_decisions(con, features, decided)
    with engine.begin() as connection:
        applied = apply_decisions(
            rulebook,
            con,
            connection,
            run_id=None,
            version=version,
            moment=moment,
            warnings_only=True,
        )
    return EventOutcome(customer_id=customer_id, warnings=decided.fired, applied=applied.as_dict())
