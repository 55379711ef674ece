"""Event runs: a new order, ticket, interaction, survey answer or points change re-evaluates
that one customer's warnings at once, with the models' outputs from the last batch run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from patron.analytics.features import compute_features, connect
from patron.analytics.models import ScoreSnapshot
from patron.analytics.store import read_store
from patron.db import now
from patron.rules import versions
from patron.rules.actions import apply_decisions
from patron.rules.engine import evaluate

# Carried over from the customer's latest snapshot: the batch models and occasions.
CARRIED = {
    "r_score": "BIGINT", "f_score": "BIGINT", "m_score": "BIGINT", "rfm_segment": "VARCHAR",
    "value_class": "VARCHAR", "p_alive": "DOUBLE", "expected_purchases": "DOUBLE",
    "expected_avg_value": "DOUBLE", "clv": "DOUBLE", "churn_risk": "DOUBLE",
    "days_to_birthday": "DOUBLE", "days_to_anniversary": "DOUBLE",
}  # fmt: skip


@dataclass
class EventOutcome:
    customer_id: int
    warnings: list[str] = field(default_factory=list)
    applied: dict[str, int] = field(default_factory=dict)


def _carried(engine: Engine, customer_id: int) -> dict[str, Any]:
    with engine.connect() as connection:
        features = connection.execute(
            select(ScoreSnapshot.features)
            .where(ScoreSnapshot.customer_id == customer_id)
            .order_by(ScoreSnapshot.run_id.desc())
            .limit(1)
        ).scalar()
    return {name: (features or {}).get(name) for name in CARRIED}


def on_event(*, engine: Engine, customer_id: int, moment: datetime | None = None) -> EventOutcome:
    """Re-evaluate one customer's warnings as of now and take their actions once."""
    moment = moment or now()
    with engine.connect() as connection:
        version, rulebook = versions.active(connection)
    con = connect(read_store(engine, moment, only=customer_id))
    compute_features(con, moment)
    carried = _carried(engine, customer_id)
    columns = ", ".join(f"CAST(${name} AS {kind}) AS {name}" for name, kind in CARRIED.items())
    con.execute(
        f"CREATE OR REPLACE TABLE features AS SELECT *, {columns}, NULL::VARCHAR AS churn_drivers "
        "FROM features",
        carried,
    )
    evaluate(rulebook, con, moment.date(), keep_states=True)
    fired = con.execute("SELECT warnings FROM decisions").fetchone()
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
    return EventOutcome(
        customer_id=customer_id,
        warnings=list(fired[0]) if fired else [],
        applied=applied.as_dict(),
    )
