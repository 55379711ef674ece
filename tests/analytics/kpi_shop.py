"""A small shop whose January 2024 KPIs are worked out by hand in the comments below.

Customers (grade, owner) and their orders:
  A (grade A, alice): paid 2023-11-15 web 100; 2024-01-05 web 200; 2024-01-20 store 100
  B (grade A, alice): paid 2023-12-10 web 50; 2024-01-10 web 30 and 70 (one day, two orders)
  C (grade B, bob):   paid 2023-12-20 store 80; refunded 2024-01-15 store 500
  D (grade B, pool):  cancelled 2023-12-05 store 40; paid 2024-01-25 store 120
  E (no grade, pool): paid 2024-01-31 23:30 web 60; paid 2024-02-01 00:00 web 999
  F (grade B, bob):   paid 2023-12-31 23:59 store 40
  G (no grade, pool): no orders
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from patron.auth.models import User
from patron.customers.models import Customer
from patron.engagement.models import TaskStatus
from patron.orders.models import OrderStatus
from patron.service.models import SurveyKind
from tests import builders


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def build_shop(session: Session) -> dict[str, int]:
    """Write the shop; returns the user ids by name."""
    alice = builders.user(session, "alice")
    bob = builders.user(session, "bob")
    people = _customers(session, alice, bob)
    _orders(session, people)
    _surveys(session, people, _tickets(session, people, alice, bob))
    _tasks(session, people, alice, bob)
    _interactions(session, people, alice)
    _scoring_runs(session, people)
    return {"alice": alice.id, "bob": bob.id}


def _customers(session: Session, alice: User, bob: User) -> dict[str, Customer]:
    plan = {
        "A": ("A", "champions", alice),
        "B": ("A", "loyal", alice),
        "C": ("B", "at_risk", bob),
        "D": ("B", "new", None),
        "E": (None, "new", None),
        "F": ("B", "lost", bob),
        "G": (None, None, None),
    }
    return {
        key: builders.customer(
            session,
            f"客户{key}",
            external_id=f"K-{key}",
            grade=grade,
            rfm_segment=segment,
            owner_id=owner.id if owner else None,
        )
        for key, (grade, segment, owner) in plan.items()
    }


def _orders(session: Session, people: dict[str, Customer]) -> None:
    paid, refunded, cancelled = OrderStatus.paid, OrderStatus.refunded, OrderStatus.cancelled
    for key, when, amount, channel, status in [
        ("A", "2023-11-15 12:00", "100", "web", paid),
        ("A", "2024-01-05 12:00", "200", "web", paid),
        ("A", "2024-01-20 12:00", "100", "store", paid),
        ("B", "2023-12-10 12:00", "50", "web", paid),
        ("B", "2024-01-10 10:00", "30", "web", paid),
        ("B", "2024-01-10 18:00", "70", "web", paid),
        ("C", "2023-12-20 12:00", "80", "store", paid),
        ("C", "2024-01-15 12:00", "500", "store", refunded),
        ("D", "2023-12-05 12:00", "40", "store", cancelled),
        ("D", "2024-01-25 12:00", "120", "store", paid),
        ("E", "2024-01-31 23:30", "60", "web", paid),
        ("E", "2024-02-01 00:00", "999", "web", paid),
        ("F", "2023-12-31 23:59", "40", "store", paid),
    ]:
        builders.order(session, people[key], amount, _at(when), channel=channel, status=status)


def _tickets(
    session: Session, people: dict[str, Customer], alice: User, bob: User
) -> dict[str, int]:
    """Resolution due in January: alice 1 of 3 in time, bob 1 of 1, one unassigned missed."""
    plan = {
        "k1": ("A", alice, "2024-01-10 12:00", "2024-01-09 12:00", None),
        "k2": ("B", alice, "2024-01-12 12:00", "2024-01-13 12:00", None),
        "k3": ("C", alice, "2024-01-20 12:00", None, None),
        "k4": ("C", bob, "2024-01-25 12:00", None, "2024-01-24 12:00"),
        "k5": ("D", bob, "2023-12-28 12:00", None, None),
        "k6": ("E", None, "2024-01-15 12:00", None, None),
    }
    ids = {}
    for name, (key, assignee, due, resolved, closed) in plan.items():
        ids[name] = builders.ticket(
            session,
            people[key],
            assignee_id=assignee.id if assignee else None,
            opened_at=_at("2024-01-01 09:00"),
            resolution_due_at=_at(due),
            resolved_at=_at(resolved) if resolved else None,
            closed_at=_at(closed) if closed else None,
        ).id
    return ids


def _surveys(session: Session, people: dict[str, Customer], tickets: dict[str, int]) -> None:
    """January NPS: 10, 9, 9 promoters, 7 passive, 3 and 0 detractors -> 100 * 1/6.

    January CSAT: 5, 4 satisfied of 5, 4, 2, 3 -> 0.5.
    """
    nps, csat = SurveyKind.nps, SurveyKind.csat
    for key, kind, score, when, ticket in [
        ("A", nps, 10, "2024-01-03 12:00", None),
        ("B", nps, 9, "2024-01-04 12:00", None),
        ("E", nps, 9, "2024-01-31 20:00", None),
        ("C", nps, 7, "2024-01-05 12:00", None),
        ("G", nps, 3, "2024-01-06 12:00", None),
        ("D", nps, 0, "2024-01-07 12:00", None),
        ("D", nps, 0, "2024-02-02 12:00", None),
        ("A", nps, None, "2024-01-08 12:00", None),
        ("A", csat, 5, "2024-01-11 12:00", "k1"),
        ("B", csat, 4, "2024-01-14 12:00", "k2"),
        ("C", csat, 2, "2024-01-26 12:00", "k4"),
        ("D", csat, 3, "2024-01-27 12:00", None),
        ("D", csat, 1, "2023-12-27 12:00", None),
    ]:
        builders.survey_response(
            session,
            people[key],
            score,  # type: ignore[arg-type]
            kind=kind,
            answered_at=_at(when),
            ticket_id=tickets[ticket] if ticket else None,
        )


def _tasks(session: Session, people: dict[str, Customer], alice: User, bob: User) -> None:
    """Follow-ups due in January: alice 1 of 3 done on time, bob 1 of 1."""
    done, open_ = TaskStatus.done, TaskStatus.open
    for owner, kind, due, status, completed in [
        (alice, "follow_up", "2024-01-10 12:00", done, "2024-01-09 12:00"),
        (alice, "follow_up", "2024-01-15 12:00", done, "2024-01-16 12:00"),
        (alice, "follow_up", "2024-01-20 12:00", open_, None),
        (alice, "follow_up", "2024-02-05 12:00", done, "2024-02-01 12:00"),
        (alice, "care", "2024-01-12 12:00", done, "2024-01-11 12:00"),
        (bob, "follow_up", "2024-01-31 12:00", done, "2024-01-31 12:00"),
    ]:
        builders.task(
            session,
            people["A"],
            assignee_id=owner.id,
            kind=kind,
            due_at=_at(due),
            status=status,
            completed_at=_at(completed) if completed else None,
        )


def _interactions(session: Session, people: dict[str, Customer], alice: User) -> None:
    for when in ("2024-01-02 12:00", "2024-01-30 12:00", "2024-02-03 12:00"):
        builders.interaction(session, people["A"], user_id=alice.id, occurred_at=_at(when))


def _scoring_runs(session: Session, people: dict[str, Customer]) -> None:
    """The latest finished run has CLV 300 (A), 100 (B) and none (D): average 200."""
    old = builders.scoring_run(session, _at("2023-12-01 00:00"))
    builders.snapshot(session, old, people["A"], clv=10.0)
    latest = builders.scoring_run(session, _at("2024-01-31 00:00"))
    for key, clv in (("A", 300.0), ("B", 100.0), ("D", None)):
        builders.snapshot(session, latest, people[key], clv=clv)
    for status in ("running", "failed"):
        unfinished = builders.scoring_run(session, _at("2024-02-01 00:00"), status=status)
        builders.snapshot(session, unfinished, people["A"], clv=9999.0)
