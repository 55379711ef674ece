"""A small builder of customer histories written through the real models."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import count

from sqlalchemy.orm import Session

from patron.models import (
    Customer,
    CustomerTag,
    Interaction,
    InteractionKind,
    Order,
    OrderStatus,
    PointsEntry,
    PointsKind,
    SurveyKind,
    SurveyResponse,
    Ticket,
    TicketKind,
)

START = date(2024, 1, 1)
_ids = count(1)


def at(day: int, hour: int = 12) -> datetime:
    """Noon (or `hour`) of the day `day` days after 2024-01-01."""
    return datetime.combine(START + timedelta(days=day), time(hour))


@dataclass
class History:
    """Customers and their events, each dated by a day offset from 2024-01-01."""

    customers: dict[str, int] = field(default_factory=dict)
    rows: list[object] = field(default_factory=list)

    def customer(
        self, session: Session, key: str, *, created: int = 0, tags: tuple[str, ...] = ()
    ) -> int:
        customer = Customer(external_id=key, name=key, created_at=at(created, 0))
        session.add(customer)
        session.flush()
        self.customers[key] = customer.id
        for tag in tags:
            session.add(CustomerTag(customer_id=customer.id, tag=tag))
        return customer.id

    def order(
        self,
        session: Session,
        key: str,
        day: int,
        amount: float,
        status: OrderStatus = OrderStatus.paid,
        channel: str = "web",
    ) -> None:
        session.add(
            Order(
                external_id=f"O{next(_ids)}",
                customer_id=self.customers[key],
                ordered_at=at(day),
                amount=amount,
                status=status,
                channel=channel,
            )
        )

    def interaction(self, session: Session, key: str, day: int, *, follow_up: bool = False) -> None:
        session.add(
            Interaction(
                customer_id=self.customers[key],
                kind=InteractionKind.call,
                occurred_at=at(day),
                is_follow_up=follow_up,
            )
        )

    def ticket(
        self,
        session: Session,
        key: str,
        day: int,
        *,
        kind: TicketKind = TicketKind.complaint,
        resolved: int | None = None,
    ) -> None:
        session.add(
            Ticket(
                customer_id=self.customers[key],
                kind=kind,
                subject="s",
                opened_at=at(day),
                resolved_at=None if resolved is None else at(resolved),
            )
        )

    def response(self, session: Session, key: str, day: int, kind: SurveyKind, score: int) -> None:
        session.add(
            SurveyResponse(
                customer_id=self.customers[key], kind=kind, score=score, answered_at=at(day)
            )
        )

    def points(self, session: Session, key: str, day: int, points: int) -> None:
        kind = PointsKind.earn if points >= 0 else PointsKind.redeem
        session.add(
            PointsEntry(
                customer_id=self.customers[key],
                kind=kind,
                points=points,
                balance_after=0,
                occurred_at=at(day),
            )
        )
