"""Who a campaign reaches: the segment, then consent, opt-outs, the frequency cap, the holdout.

A segment is a rule expression (patron.rules.language) over the features of each customer's
latest finished scoring run, evaluated in DuckDB over all candidates at once. Customers never
scored have no features, so a condition on a feature is unknown for them and they are left out.

Eligibility comes before the split: the holdout is drawn from customers who could have been
sent to, so treated and held-out groups differ only in the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, Integer, Text, and_, case, cast, exists, func, select
from sqlalchemy.orm import Session, aliased

from patron.analytics.catalog import FEATURES
from patron.analytics.models import ScoreSnapshot, ScoringRun
from patron.campaigns.models import CampaignRecipient, OptOut, RecipientGroup
from patron.customers.models import Customer, CustomerScore
from patron.errors import InvalidInput
from patron.rules.language import CheckedExpression, check, compile_duckdb

UNFINISHED_RUN_STATUSES = ("running", "failed")
# Where each customer-facing channel's address lives; team channels (webhooks, robots) do not
# reach customers, so campaigns cannot use them.
ADDRESSES: dict[str, Any] = {"email": Customer.email}
ADDRESS_PATTERNS = {"email": "%_@_%"}
REASONS = ("opted_out", "no_consent", "no_address", "frequency_cap")
PERSONAL = ("name", "city", "grade", "company", "external_id", "locale", "address")
FLAGS = ("has_address", "consent", "opted_out", "recent")


@dataclass(frozen=True)
class Cap:
    """At most `messages` campaign messages per customer within `days` days."""

    messages: int
    days: int


@dataclass(frozen=True)
class Audience:
    """The segment's members, each with a group and, if suppressed, why."""

    customer_ids: npt.NDArray[np.int64]
    groups: npt.NDArray[np.object_]
    reasons: npt.NDArray[np.object_]
    personal: dict[str, npt.NDArray[np.object_]]

    def count(self, group: RecipientGroup) -> int:
        """How many members fall in the group."""
        return int(np.count_nonzero(self.groups == group.value))

    def counts(self) -> dict[str, Any]:
        """Members, per group, and the suppressed per reason."""
        return {
            "segment": int(self.customer_ids.size),
            "treated": self.count(RecipientGroup.treated),
            "holdout": self.count(RecipientGroup.holdout),
            "suppressed": {
                reason: int(np.count_nonzero(self.reasons == reason)) for reason in REASONS
            },
        }


def check_segment(expression: str) -> CheckedExpression:
    """A segment expression checked like any rule (RuleError names the offending part)."""
    return check(expression)


def address_column(channel: str) -> Any:
    """The customer column holding the channel's address; refused for team-only channels."""
    column = ADDRESSES.get(channel)
    if column is None:
        known = ", ".join(sorted(ADDRESSES))
        raise InvalidInput(f"campaigns reach customers by {known}; '{channel}' does not reach them")
    return column


def _latest_run() -> Any:
    """The customer's latest finished run, correlated so each row is one index look-up
    (a join to a grouped subquery is scanned once per customer on SQLite)."""
    finished = select(ScoringRun.id).where(ScoringRun.status.not_in(UNFINISHED_RUN_STATUSES))
    earlier = aliased(ScoreSnapshot)
    return (
        select(func.max(earlier.run_id))
        .where(earlier.customer_id == Customer.id, earlier.run_id.in_(finished))
        .correlate(Customer)
        .scalar_subquery()
    )


def _recent_sends(cap: Cap, moment: datetime) -> Any:
    return (
        select(func.count())
        .where(
            CampaignRecipient.customer_id == Customer.id,
            CampaignRecipient.group == RecipientGroup.treated,
            CampaignRecipient.decided_at > moment - timedelta(days=cap.days),
        )
        .correlate(Customer)
        .scalar_subquery()
    )


def _candidates(
    session: Session, visible: ColumnElement[bool], channel: str, cap: Cap, moment: datetime
) -> dict[str, npt.NDArray[Any]]:
    recent = _recent_sends(cap, moment)
    opted = exists().where(OptOut.customer_id == Customer.id, OptOut.channel.in_([channel, "*"]))
    consent = func.coalesce(Customer.consent[channel].as_boolean(), False)
    address = address_column(channel)
    # An address the channel cannot use counts as none, so it cannot fail the launch's enqueue.
    has_address = case((func.coalesce(address, "").like(ADDRESS_PATTERNS[channel]), 1), else_=0)
    query = (
        select(
            Customer.id, Customer.name, Customer.city, CustomerScore.grade, Customer.company,
            Customer.external_id, Customer.custom_fields["locale"].as_string(),
            address, has_address, cast(consent, Integer), cast(opted, Integer),
            recent, cast(ScoreSnapshot.features, Text),
        )
        .join_from(Customer, CustomerScore, CustomerScore.customer_id == Customer.id)
        .outerjoin_from(
            Customer,
            ScoreSnapshot,
            and_(ScoreSnapshot.customer_id == Customer.id, ScoreSnapshot.run_id == _latest_run()),
        )
        .where(visible, Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None))
        .order_by(Customer.id)
    )  # fmt: skip
    rows = session.execute(query).all()
    names = ("customer_id", *PERSONAL, *FLAGS, "features")
    transposed = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    columns = {
        name: np.array(values, dtype=object) for name, values in zip(names, transposed, strict=True)
    }
    for name in ("customer_id", *FLAGS):
        columns[name] = columns[name].astype(np.int64)
    return columns


def _members(
    checked: CheckedExpression, ids: npt.NDArray[np.int64], raw: npt.NDArray[Any]
) -> npt.NDArray[np.bool_]:
    """Which candidates the expression holds for, evaluated in DuckDB over all at once."""
    con = duckdb.connect()
    try:
        con.register("raw", {"customer_id": ids, "features": raw})
        extracted = ", ".join(
            f"TRY_CAST(json_extract{'' if FEATURES[name].kind == 'tags' else '_string'}"
            f"(features, '$.{name}') AS {FEATURES[name].duckdb_type}) AS {name}"
            for name in sorted(checked.features)
        )
        con.execute(
            f"CREATE TABLE features AS SELECT customer_id{', ' + extracted if extracted else ''} "
            "FROM raw"
        )
        found = con.execute(
            f"SELECT customer_id FROM features WHERE ({compile_duckdb(checked)})"
        ).fetchnumpy()["customer_id"]
    finally:
        con.close()
    return np.isin(ids, np.asarray(found, dtype=np.int64))


def _mix(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64: a fixed, well-spread hash, the same on every machine and version."""
    with np.errstate(over="ignore"):
        x = values + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def holdout_mask(
    customer_ids: npt.NDArray[np.int64], campaign_id: int, share: float
) -> npt.NDArray[np.bool_]:
    """Exactly round(share * n) customers, chosen by a hash seeded with the campaign id, so the
    same campaign holds out the same customers every time and another campaign others."""
    seed = _mix(np.array([campaign_id], dtype=np.uint64))[0]
    keys = _mix(customer_ids.astype(np.uint64) ^ seed)
    held = np.zeros(customer_ids.size, dtype=bool)
    size = round(share * customer_ids.size)
    held[np.argsort(keys, kind="stable")[:size]] = True
    return held


def _reasons(
    columns: dict[str, npt.NDArray[Any]], cap: Cap
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.bool_]]:
    """The first reason (in REASONS order) each customer cannot be sent to, or None; and
    whether they can be sent to."""
    hits = (
        columns["opted_out"] == 1,
        columns["consent"] != 1,
        columns["has_address"] != 1,
        columns["recent"] >= cap.messages,
    )
    reasons = np.full(columns["customer_id"].size, None, dtype=object)
    for reason, hit in reversed(list(zip(REASONS, hits, strict=True))):
        reasons[hit] = reason
    return reasons, ~np.any(np.vstack(hits), axis=0)


def audience(
    session: Session,
    *,
    checked: CheckedExpression,
    visible: ColumnElement[bool],
    channel: str,
    cap: Cap,
    campaign_id: int,
    holdout_share: float,
    moment: datetime,
) -> Audience:
    """The segment's members among the visible customers, grouped for this campaign."""
    columns = _candidates(session, visible, channel, cap, moment)
    inside = _members(checked, columns["customer_id"], columns["features"])
    columns = {name: values[inside] for name, values in columns.items()}
    reasons, eligible = _reasons(columns, cap)
    groups = np.full(eligible.size, RecipientGroup.suppressed.value, dtype=object)
    held = holdout_mask(columns["customer_id"][eligible], campaign_id, holdout_share)
    groups[np.flatnonzero(eligible)] = np.where(
        held, RecipientGroup.holdout.value, RecipientGroup.treated.value
    )
    personal = {name: columns[name] for name in PERSONAL}
    return Audience(columns["customer_id"], groups, reasons, personal)
