"""KPIs broken down by grade, RFM segment, value class, channel and owner, and per agent."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, func, select

from patron.analytics.kpi import (
    Counts,
    CustomerScope,
    Dimension,
    among,
    combined_counts,
    kpis,
    latest_run_id,
    ratio,
)
from patron.analytics.kpi_period import Period
from patron.analytics.kpi_stored import average_clv_by
from patron.analytics.models import ScoreSnapshot
from patron.auth.models import User
from patron.customers.models import Customer
from patron.engagement.models import Interaction, Task, TaskStatus
from patron.errors import InvalidInput
from patron.orders.models import Order
from patron.service.models import SurveyKind, SurveyResponse, Ticket

DIMENSIONS: dict[str, Dimension] = {
    "grade": Dimension("grade", Customer.grade, on_customer=True),
    "segment": Dimension("segment", Customer.rfm_segment, on_customer=True),
    "value_class": Dimension("value_class", Customer.value_class, on_customer=True),
    "owner": Dimension("owner", Customer.owner_id, on_customer=True),
    "channel": Dimension("channel", Order.channel, on_customer=False),
}
SURVEY_KEYS = ("nps", "nps_responses", "csat", "csat_responses")
FOLLOW_UP = "follow_up"


def breakdown(
    *,
    connection: Connection,
    period: Period,
    by: str,
    customers: CustomerScope = None,
    owners: Iterable[int | None] | None = None,
) -> list[dict[str, Any]]:
    """The period's KPIs per value of one dimension, over `customers` (None: everyone); rows
    need not sum to the headline. With `owners` (the owners of those same customers) the
    average CLV comes from the totals the KPI store keeps per owner."""
    if by not in DIMENSIONS:
        raise InvalidInput(
            f"cannot break KPIs down by '{by}' (use one of: {', '.join(DIMENSIONS)})"
        )
    dimension = DIMENSIONS[by]
    counts = combined_counts(connection, period, dimension, customers)
    if not dimension.on_customer:
        clv = {}
    elif owners is not None:
        clv = average_clv_by(connection, dimension, owners)
    else:
        clv = _average_clv_by(connection, dimension, customers)
    owners = _usernames(connection, counts) if by == "owner" else {}
    rows = []
    for key in _sorted_keys(counts):
        # Owner rows carry the user's id and name; a None owner is the public pool.
        head = {"owner_id": key, "owner": owners.get(key)} if by == "owner" else {by: key}
        row: dict[str, Any] = {**head, **kpis(counts.get(key, Counts()))}
        if dimension.on_customer:
            row["average_clv"] = clv.get(key)
        else:
            # Survey answers belong to customers, not to the channel an order came through.
            for name in SURVEY_KEYS:
                del row[name]
        rows.append(row)
    return rows


def _sorted_keys(keys: Iterable[Any]) -> list[Any]:
    """Known values in order, the missing value (no grade, no owner) last."""
    present = list(keys)
    return sorted((k for k in present if k is not None), key=str) + (
        [None] if None in present else []
    )


def _average_clv_by(
    connection: Connection, dimension: Dimension, customers: CustomerScope = None
) -> dict[Any, float]:
    run_id = latest_run_id(connection)
    if run_id is None:
        return {}
    query = (
        select(dimension.column, func.avg(ScoreSnapshot.clv))
        .join_from(ScoreSnapshot, Customer, ScoreSnapshot.customer_id == Customer.id)
        .where(
            ScoreSnapshot.run_id == run_id,
            ScoreSnapshot.clv.is_not(None),
            among(ScoreSnapshot.customer_id, customers),
        )
        .group_by(dimension.column)
    )
    return {key: float(value) for key, value in connection.execute(query).all()}


def _usernames(connection: Connection, ids: Iterable[Any]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    query = select(User.id, User.username).where(User.id.in_(wanted))
    return {int(user_id): str(username) for user_id, username in connection.execute(query).all()}


def agents(*, connection: Connection, period: Period) -> list[dict[str, Any]]:
    """Per assignee: follow-up completion, resolution SLA met, CSAT on their tickets, contacts."""
    follow_ups = _follow_up_counts(connection, period)
    sla = _sla_counts(connection, period)
    csat = _ticket_csat_counts(connection, period)
    contacts = _interaction_counts(connection, period)
    user_ids = _sorted_keys(set(follow_ups) | set(sla) | set(csat) | set(contacts))
    names = _usernames(connection, user_ids)
    rows = []
    for user_id in user_ids:
        due, on_time = follow_ups.get(user_id, (0, 0))
        tickets_due, met = sla.get(user_id, (0, 0))
        responses, satisfied = csat.get(user_id, (0, 0))
        rows.append(
            {
                "user_id": user_id,
                "username": names.get(user_id),
                "follow_ups_due": due,
                "follow_ups_done_on_time": on_time,
                "follow_up_completion": ratio(on_time, due),
                "tickets_due": tickets_due,
                "tickets_resolved_in_time": met,
                "sla_met_rate": ratio(met, tickets_due),
                "csat_responses": responses,
                "csat": ratio(satisfied, responses),
                "interactions": contacts.get(user_id, 0),
            }
        )
    return rows


def _follow_up_counts(connection: Connection, period: Period) -> dict[Any, tuple[int, int]]:
    """Follow-up tasks due in the period, and those done by their due time."""
    on_time = (Task.status == TaskStatus.done) & (Task.completed_at <= Task.due_at)
    query = (
        select(Task.assignee_id, func.count(), func.count().filter(on_time))
        .where(Task.kind == FOLLOW_UP, period.within(Task.due_at))
        .group_by(Task.assignee_id)
    )
    return {row[0]: (int(row[1]), int(row[2])) for row in connection.execute(query).all()}


def _sla_counts(connection: Connection, period: Period) -> dict[Any, tuple[int, int]]:
    """Tickets whose resolution was due in the period, and those resolved by then."""
    # A ticket closed without a separate resolve step counts as resolved when closed.
    resolved_at = func.coalesce(Ticket.resolved_at, Ticket.closed_at)
    query = (
        select(
            Ticket.assignee_id,
            func.count(),
            func.count().filter(resolved_at <= Ticket.resolution_due_at),
        )
        .where(period.within(Ticket.resolution_due_at))
        .group_by(Ticket.assignee_id)
    )
    return {row[0]: (int(row[1]), int(row[2])) for row in connection.execute(query).all()}


def _ticket_csat_counts(connection: Connection, period: Period) -> dict[Any, tuple[int, int]]:
    """CSAT answers given in the period about a ticket, by the ticket's assignee."""
    query = (
        select(Ticket.assignee_id, func.count(), func.count().filter(SurveyResponse.score >= 4))
        .join_from(SurveyResponse, Ticket, SurveyResponse.ticket_id == Ticket.id)
        .where(
            SurveyResponse.kind == SurveyKind.csat,
            SurveyResponse.score.is_not(None),
            period.within(SurveyResponse.answered_at),
        )
        .group_by(Ticket.assignee_id)
    )
    return {row[0]: (int(row[1]), int(row[2])) for row in connection.execute(query).all()}


def _interaction_counts(connection: Connection, period: Period) -> dict[Any, int]:
    query = (
        select(Interaction.user_id, func.count())
        .where(Interaction.user_id.is_not(None), period.within(Interaction.occurred_at))
        .group_by(Interaction.user_id)
    )
    return {row[0]: int(row[1]) for row in connection.execute(query).all()}
