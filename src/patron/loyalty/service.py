"""The points ledger: earn, redeem, adjust and expire, with a balance that never goes negative.

Every balance change is one conditional `UPDATE ... SET balance = balance + :delta WHERE
customer_id = :c AND balance + :delta >= 0 RETURNING balance`. The UPDATE takes the account's
row lock on PostgreSQL and the database write lock on SQLite, so two redemptions that together
overspend cannot both match it: the second waits for the first to commit, then finds the
balance too low. Services here never commit: the caller's unit of work does.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Collection, Sequence
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import Any, Protocol

import psycopg
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import (
    Connection,
    Select,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from patron.audit.service import record
from patron.customers.models import Customer, CustomerScore
from patron.customers.repository import chunks
from patron.db import now
from patron.errors import Conflict, InvalidInput, NotFound, RuleError
from patron.loyalty.models import LoyaltyAccount, PointsEntry, PointsKind, TierChange
from patron.orders import repository as orders_repository
from patron.orders.models import Order, OrderStatus
from patron.rules import versions
from patron.rules.rulebook import Loyalty, Tier

MAX_POINTS = 100_000_000


class InsufficientPoints(Conflict):
    """A redemption or deduction larger than the balance: nothing changed."""

    code = "insufficient_points"


def add_months(moment: datetime, months: int) -> datetime:
    """The same wall-clock time `months` later (earlier if negative), clamped to the month's end."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def loyalty_rules(session: Session) -> Loyalty:
    """The loyalty section of the active rulebook."""
    return versions.active(session.connection())[1].loyalty


def _ensure_account(session: Session, customer_id: int) -> None:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(LoyaltyAccount)
        .values(customer_id=customer_id, balance=0, updated_at=now())
        .on_conflict_do_nothing(index_elements=["customer_id"])
    )


def _shift(session: Session, customer_id: int, delta: int) -> int | None:
    """Add `delta` to the balance unless it would go negative; the new balance, or None."""
    statement = (
        update(LoyaltyAccount)
        .where(LoyaltyAccount.customer_id == customer_id, LoyaltyAccount.balance + delta >= 0)
        .values(balance=LoyaltyAccount.balance + delta, updated_at=now())
        .returning(LoyaltyAccount.balance)
        .execution_options(synchronize_session=False)
    )
    balance = session.scalar(statement)
    if balance is None and delta >= 0:
        # With delta >= 0 the condition always holds, so only a missing account fails it.
        _ensure_account(session, customer_id)
        balance = session.scalar(statement)
    return balance


def balance_of(session: Session, customer_id: int) -> int:
    """The customer's points balance (0 without an account)."""
    stored = session.scalar(
        select(LoyaltyAccount.balance).where(LoyaltyAccount.customer_id == customer_id)
    )
    return stored or 0


def _live_customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None or customer.deleted_at is not None:
        raise NotFound(f"no customer with id {customer_id}")
    if customer.merged_into_id is not None:
        raise Conflict(
            f"customer {customer_id} was merged into {customer.merged_into_id}: use that one"
        )
    return customer


def _check_points(points: int) -> None:
    if points <= 0 or points > MAX_POINTS:
        raise InvalidInput(f"points must be a whole number from 1 to {MAX_POINTS}, not {points}")


def _by_key(session: Session, customer_id: int, key: str | None) -> PointsEntry | None:
    """The entry already written under `key`: the earlier request's result, returned again."""
    if key is None:
        return None
    entry = session.scalar(select(PointsEntry).where(PointsEntry.idempotency_key == key))
    if entry is not None and entry.customer_id != customer_id:
        raise Conflict(f"the idempotency key '{key}' was already used for another customer")
    return entry


def _write(
    session: Session,
    *,
    customer_id: int,
    kind: PointsKind,
    points: int,
    balance_after: int,
    reason: str,
    moment: datetime,
    **fields: object,
) -> PointsEntry:
    entry = PointsEntry(
        customer_id=customer_id, kind=kind, points=points, balance_after=balance_after,
        reason=reason[:300], occurred_at=moment, **fields,
    )  # fmt: skip
    session.add(entry)
    session.flush()
    return entry


def earn(
    *,
    session: Session,
    customer_id: int,
    points: int,
    reason: str,
    moment: datetime | None = None,
    order_id: int | None = None,
    idempotency_key: str | None = None,
    by_user_id: int | None = None,
) -> PointsEntry:
    """Credit points; a repeated `idempotency_key` returns the first entry and adds nothing."""
    _check_points(points)
    _live_customer(session, customer_id)
    moment = moment or now()
    if idempotency_key is not None:
        # Lock the account first, so two requests with one key cannot both find it unused.
        _shift(session, customer_id, 0)
        done = _by_key(session, customer_id, idempotency_key)
        if done is not None:
            return done
    months = loyalty_rules(session).points_expire_months
    balance = _shift(session, customer_id, points)
    assert balance is not None  # a credit always fits
    return _write(
        session, customer_id=customer_id, kind=PointsKind.earn, points=points,
        balance_after=balance, reason=reason, moment=moment, order_id=order_id,
        idempotency_key=idempotency_key, created_by_id=by_user_id,
        expires_at=add_months(moment, months) if months else None,
    )  # fmt: skip


class Bonus(BaseModel):
    """A bonus rule in `loyalty.bonus`: orders matching every condition given get the extra
    points and the multiplier, on top of the base points."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_amount: Decimal = Field(default=Decimal(0), ge=0)
    channels: list[str] = Field(default_factory=list)
    grades: list[str] = Field(default_factory=list)
    multiplier: Decimal = Field(default=Decimal(1), ge=0, le=100)
    extra_points: int = Field(default=0, ge=0, le=MAX_POINTS)


def bonuses(rules: Loyalty) -> list[Bonus]:
    """The rulebook's bonus rules, checked; a malformed one is refused by its position."""
    checked = []
    for index, item in enumerate(rules.bonus):
        try:
            checked.append(Bonus.model_validate(item))
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(part) for part in problem["loc"]) or "the rule"
            raise RuleError(f"rulebook loyalty.bonus.{index}: {where}: {problem['msg']}") from exc
    return checked


class Priced(Protocol):
    """What the points of an order depend on: an `Order`, or a row selected from orders."""

    @property
    def amount(self) -> Decimal: ...
    @property
    def channel(self) -> str | None: ...


def points_for_order(rules: Loyalty, order: Priced, grade: str | None) -> int:
    """Points a paid order earns: amount × points_per_unit × the grade's multiplier, then each
    matching bonus's multiplier and extra points; floored.

    The product is exact, as PostgreSQL's numeric makes it in the bulk path (`_points_sql`):
    Decimal's default 28 digits would round factors such as 0.9999999999999999 ×
    1.0000000000000001, so the precision is the factors' digits together, which a product of
    them never exceeds."""
    factors = [
        order.amount,
        Decimal(str(rules.points_per_unit)),
        Decimal(str(rules.grade_multipliers.get(grade or "", 1.0))),
    ]
    extra = 0
    for bonus in bonuses(rules):
        if (
            order.amount >= bonus.min_amount
            and (not bonus.channels or order.channel in bonus.channels)
            and (not bonus.grades or grade in bonus.grades)
        ):
            factors.append(bonus.multiplier)
            extra += bonus.extra_points
    with localcontext(prec=sum(len(factor.as_tuple().digits) for factor in factors)):
        raw = math.prod(factors, start=Decimal(1))
    return max(int(raw.to_integral_value(rounding=ROUND_FLOOR)), 0) + extra


def earn_for_order(
    *,
    session: Session,
    order_id: int,
    by_user_id: int | None = None,
    moment: datetime | None = None,
) -> PointsEntry | None:
    """Points for one paid order, once (idempotent per order); None when it earns nothing."""
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound(f"no order with id {order_id}")
    if order.status is not OrderStatus.paid:
        raise Conflict(f"order {order.external_id} is {order.status.value}: only paid orders earn")
    customer = _live_customer(session, order.customer_id)
    _shift(session, customer.id, 0)  # the account lock: one earn per order even when raced
    earlier = session.scalar(
        select(PointsEntry).where(
            PointsEntry.order_id == order.id, PointsEntry.kind == PointsKind.earn
        )
    )
    if earlier is not None:
        return earlier
    rules = loyalty_rules(session)
    points = min(points_for_order(rules, order, customer.grade), MAX_POINTS)
    if points == 0:
        return None
    entry = earn(
        session=session, customer_id=customer.id, points=points,
        reason=f"order {order.external_id}", moment=moment, order_id=order.id,
        idempotency_key=f"earn:order:{order.id}", by_user_id=by_user_id,
    )  # fmt: skip
    refresh_tier(session=session, customer_id=customer.id, moment=entry.occurred_at)
    return entry


def on_new_order(
    *, session: Session, order_id: int, by_user_id: int | None = None
) -> PointsEntry | None:
    """A newly stored order's loyalty effects, in the order's own transaction: a paid order
    earns its points (once, as `earn_for_order`) and the customer's tier is upgraded at once,
    since spend counts toward it even when the rulebook gives no points. A refunded or
    cancelled order changes nothing."""
    order = session.get(Order, order_id)
    if order is None or order.status is not OrderStatus.paid:
        return None
    entry = earn_for_order(session=session, order_id=order.id, by_user_id=by_user_id)
    if entry is None and loyalty_rules(session).tiers:
        # earn_for_order refreshes the tier only when it credits points.
        refresh_tier(session=session, customer_id=order.customer_id)
    return entry


def gives_points(rules: Loyalty) -> bool:
    """Whether any order can earn points under these rules."""
    return rules.points_per_unit > 0 or any(bonus.extra_points for bonus in bonuses(rules))


def earn_for_new_orders(
    conn: Connection, *, order_ids: Collection[int], moment: datetime | None = None
) -> int:
    """Points for a batch of orders just inserted (by id), set-based, each entry under the key
    `earn_for_order` uses, so a later explicit earn adds nothing. Only paid orders of live
    customers earn, what `points_for_order` gives them. Tiers and warnings are left to the
    `tier_review` job and the next scoring run. Returns the points credited.

    On PostgreSQL one statement does it all in the database (the orders never come back to
    Python); on SQLite, whose arithmetic is binary floating point, the points are counted
    here and written with one ledger insert and one balance update."""
    rules = versions.active(conn)[1].loyalty
    if not order_ids or not gives_points(rules):
        return 0
    moment = moment or now()
    months = rules.points_expire_months
    expires = add_months(moment, months) if months else None
    driver = orders_repository.driver_of(conn)
    if driver is not None:
        return _earn_in_postgres(driver, rules, sorted(order_ids), moment, expires)
    query = (
        select(Order.id, Order.external_id, Order.customer_id, Order.amount, Order.channel,
               CustomerScore.grade)
        .join(Customer, Customer.id == Order.customer_id)
        .join(CustomerScore, CustomerScore.customer_id == Customer.id)
        .where(Order.status == OrderStatus.paid, Customer.deleted_at.is_(None),
               Customer.merged_into_id.is_(None))
    )  # fmt: skip
    found = [
        row for part in chunks(order_ids) for row in conn.execute(query.where(Order.id.in_(part)))
    ]
    earned = [
        (row, points)
        for row in sorted(found, key=lambda row: row.id)
        if (points := min(points_for_order(rules, row, row.grade), MAX_POINTS)) > 0
    ]
    if not earned:
        return 0
    balances = _credit_all(conn, earned)
    entries = []
    for row, points in reversed(earned):
        # Walking back from each customer's new balance gives every entry its balance_after.
        balance = balances[row.customer_id]
        balances[row.customer_id] = balance - points
        entries.append({
            "customer_id": row.customer_id, "kind": PointsKind.earn, "points": points,
            "balance_after": balance, "reason": f"order {row.external_id}"[:300],
            "order_id": row.id, "occurred_at": moment, "idempotency_key": f"earn:order:{row.id}",
            "expires_at": expires,
        })  # fmt: skip
    conn.execute(insert(PointsEntry), entries[::-1])
    return sum(points for _, points in earned)


def _credit_all(conn: Connection, earned: Sequence[tuple[Any, int]]) -> dict[int, int]:
    """Add each customer's points to their balance (creating missing accounts); the new
    balances. The update holds the database's write lock until the caller's commit."""
    totals: dict[int, int] = {}
    for row, points in earned:
        totals[row.customer_id] = totals.get(row.customer_id, 0) + points
    at = now()
    conn.execute(
        sqlite.insert(LoyaltyAccount).on_conflict_do_nothing(index_elements=["customer_id"]),
        [{"customer_id": c, "balance": 0, "updated_at": at} for c in totals],
    )
    conn.execute(
        update(LoyaltyAccount)
        .where(LoyaltyAccount.customer_id == bindparam("c"))
        .values(balance=LoyaltyAccount.balance + bindparam("delta"), updated_at=at),
        [{"c": c, "delta": delta} for c, delta in totals.items()],
    )
    balances: dict[int, int] = {}
    for part in chunks(totals):
        stored = conn.execute(
            select(LoyaltyAccount.customer_id, LoyaltyAccount.balance).where(
                LoyaltyAccount.customer_id.in_(part)
            )
        )
        balances.update(stored.all())
    return balances


def _points_sql(rules: Loyalty) -> tuple[str, dict[str, Any]]:
    """`points_for_order` as a PostgreSQL expression over `o` (orders) and `s` (the customer's
    scores), with its parameters: the same Decimal factors, multiplied exactly in numeric as
    `points_for_order` multiplies them exactly."""
    params: dict[str, Any] = {"per_unit": Decimal(str(rules.points_per_unit))}
    multiplier = "1.0"
    if rules.grade_multipliers:
        cases = []
        for n, (grade, factor) in enumerate(rules.grade_multipliers.items()):
            params[f"grade_{n}"], params[f"grade_factor_{n}"] = grade, Decimal(str(factor))
            cases.append(f"WHEN %(grade_{n})s THEN %(grade_factor_{n})s::numeric")
        multiplier = f"(CASE coalesce(s.grade, '') {' '.join(cases)} ELSE 1.0 END)"
    extra = "0"
    for n, bonus in enumerate(bonuses(rules)):
        params[f"bonus_min_{n}"] = bonus.min_amount
        matches = [f"o.amount >= %(bonus_min_{n})s::numeric"]
        if bonus.channels:
            params[f"bonus_channels_{n}"] = bonus.channels
            matches.append(f"o.channel = ANY(%(bonus_channels_{n})s::text[])")
        if bonus.grades:
            params[f"bonus_grades_{n}"] = bonus.grades
            matches.append(f"s.grade = ANY(%(bonus_grades_{n})s::text[])")
        match = " AND ".join(matches)
        params[f"bonus_factor_{n}"] = bonus.multiplier
        params[f"bonus_extra_{n}"] = bonus.extra_points
        multiplier += f" * (CASE WHEN {match} THEN %(bonus_factor_{n})s::numeric ELSE 1 END)"
        extra += f" + (CASE WHEN {match} THEN %(bonus_extra_{n})s::bigint ELSE 0 END)"
    raw = f"o.amount * %(per_unit)s::numeric * ({multiplier})"
    return f"LEAST(GREATEST(floor({raw}), 0) + {extra}, {MAX_POINTS})", params


# The whole points step of a batch in one statement. The accounts are credited by one upsert in
# customer order (two batches crediting the same customers wait for each other instead of
# deadlocking; a missing account is created with its first points); every entry's balance_after
# is its customer's new balance less the points of the customer's later orders in the batch.
_EARN = """
WITH kept AS (
    SELECT o.*
    FROM unnest(%(ids)s::bigint[]) AS batch(id)
    -- One order at a time by its key: OFFSET 0 keeps the planner from joining the whole
    -- tables first when their statistics are stale (a table just filled counts one row).
    CROSS JOIN LATERAL (
        SELECT o.id AS order_id, o.customer_id, o.external_id, ({points})::integer AS points
        FROM orders AS o
        JOIN customers AS c ON c.id = o.customer_id
        JOIN customer_scores AS s ON s.customer_id = o.customer_id
        WHERE o.id = batch.id AND o.status = 'paid'
          AND c.deleted_at IS NULL AND c.merged_into_id IS NULL
        OFFSET 0
    ) AS o
    WHERE o.points > 0
), credited AS (
    INSERT INTO loyalty_accounts AS a (customer_id, balance, updated_at)
    SELECT customer_id, sum(points), %(at)s FROM kept GROUP BY customer_id ORDER BY customer_id
    ON CONFLICT (customer_id) DO UPDATE
    SET balance = a.balance + excluded.balance, updated_at = excluded.updated_at
    RETURNING a.customer_id, a.balance
), written AS (
    INSERT INTO points_ledger (customer_id, kind, points, balance_after, reason, order_id,
                               occurred_at, expires_at, idempotency_key)
    SELECT k.customer_id, 'earn', k.points, c.balance - coalesce(sum(k.points) OVER later, 0),
           left('order ' || k.external_id, 300), k.order_id, %(moment)s,
           CAST(%(expires)s AS timestamp), 'earn:order:' || k.order_id
    FROM kept AS k JOIN credited AS c ON c.customer_id = k.customer_id
    WINDOW later AS (PARTITION BY k.customer_id ORDER BY k.order_id
                     ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
    ORDER BY k.order_id
    RETURNING points
)
SELECT coalesce(sum(points), 0) FROM written
"""


def _earn_in_postgres(
    driver: psycopg.Connection[Any],
    rules: Loyalty,
    order_ids: list[int],
    moment: datetime,
    expires: datetime | None,
) -> int:
    points, params = _points_sql(rules)
    params |= {"ids": order_ids, "at": now(), "moment": moment, "expires": expires}
    with driver.cursor() as cursor:
        credited = cursor.execute(_EARN.format(points=points), params).fetchone()
    return int(credited[0]) if credited else 0


def redeem(
    *,
    session: Session,
    customer_id: int,
    points: int,
    reason: str,
    moment: datetime | None = None,
    idempotency_key: str | None = None,
    by_user_id: int | None = None,
) -> PointsEntry:
    """Spend points; refused (InsufficientPoints) when the balance does not cover them."""
    _check_points(points)
    _live_customer(session, customer_id)
    if idempotency_key is not None:
        _shift(session, customer_id, 0)
        done = _by_key(session, customer_id, idempotency_key)
        if done is not None:
            return done
    balance = _shift(session, customer_id, -points)
    if balance is None:
        have = balance_of(session, customer_id)
        raise InsufficientPoints(f"the balance is {have} points, fewer than the {points} asked")
    return _write(
        session, customer_id=customer_id, kind=PointsKind.redeem, points=-points,
        balance_after=balance, reason=reason, moment=moment or now(),
        idempotency_key=idempotency_key, created_by_id=by_user_id,
    )  # fmt: skip


def adjust(
    *,
    session: Session,
    customer_id: int,
    points: int,
    reason: str,
    by_user_id: int | None,
    moment: datetime | None = None,
) -> PointsEntry:
    """A manual correction, up or down, with a required reason; audited."""
    if not reason.strip():
        raise InvalidInput("an adjustment needs a reason")
    if points == 0 or abs(points) > MAX_POINTS:
        raise InvalidInput(f"an adjustment is a non-zero whole number up to ±{MAX_POINTS}")
    _live_customer(session, customer_id)
    balance = _shift(session, customer_id, points)
    if balance is None:
        have = balance_of(session, customer_id)
        raise InsufficientPoints(
            f"the balance is {have} points: deducting {-points} would make it negative"
        )
    entry = _write(
        session, customer_id=customer_id, kind=PointsKind.adjust, points=points,
        balance_after=balance, reason=reason.strip(), moment=moment or now(),
        created_by_id=by_user_id,
    )  # fmt: skip
    record(
        session=session, action="loyalty.adjust", entity="customer", entity_id=customer_id,
        user_id=by_user_id, points=points, reason=reason.strip(), balance_after=balance,
    )  # fmt: skip
    return entry


# Member tiers: by rolling 12-month spend or points; an upgrade happens at once, a downgrade
# at the period end (or at once with `downgrade: immediate`).


def ladder(rules: Loyalty) -> list[tuple[float, Tier]]:
    """The tiers with their thresholds on the rulebook's basis, lowest first."""
    steps = []
    for tier in rules.tiers:
        if rules.tier_basis == "spend_12m":
            threshold = float(tier.min_spend_12m)
        elif tier.min_points is not None:
            threshold = float(tier.min_points)
        else:
            # Without min_points a tier is reachable by points only as the entry tier.
            threshold = 0.0 if tier.min_spend_12m == 0 else float("inf")
        steps.append((threshold, tier))
    return sorted((step for step in steps if step[0] != float("inf")), key=lambda s: s[0])


def tier_for(rules: Loyalty, value: float) -> Tier | None:
    """The highest tier whose threshold the value reaches."""
    reached = [tier for threshold, tier in ladder(rules) if value >= threshold]
    return reached[-1] if reached else None


def rank(rules: Loyalty, tier_id: str | None) -> int:
    ids = [tier.id for _, tier in ladder(rules)]
    return ids.index(tier_id) if tier_id in ids else -1


def window_values(
    rules: Loyalty, moment: datetime, customer_id: int | None = None
) -> Select[tuple[int, Any]]:
    """(customer_id, value) of the tier basis over the 12 months to `moment`, per customer."""
    since = add_months(moment, -12)
    who: Any
    amount: Any
    when: Any
    if rules.tier_basis == "spend_12m":
        who, amount, when = Order.customer_id, Order.amount, Order.ordered_at
        counted = Order.status == OrderStatus.paid
    else:
        who, amount, when = PointsEntry.customer_id, PointsEntry.points, PointsEntry.occurred_at
        counted = PointsEntry.kind == PointsKind.earn
    query = select(who.label("customer_id"), func.sum(amount).label("value")).where(
        counted, when > since, when <= moment
    )
    if customer_id is not None:
        query = query.where(who == customer_id)
    return query.group_by(who)


def qualifying_value(
    *, session: Session, customer_id: int, moment: datetime | None = None
) -> float:
    """The customer's spend (or points earned) over the rolling 12 months."""
    query = window_values(loyalty_rules(session), moment or now(), customer_id)
    found = session.execute(query).first()
    return float(found.value) if found and found.value is not None else 0.0


def _change_tier(
    session: Session, account: LoyaltyAccount, to_tier: str | None, moment: datetime, reason: str
) -> TierChange:
    change = TierChange(
        customer_id=account.customer_id, from_tier=account.tier, to_tier=to_tier,
        changed_at=moment, reason=reason,
    )  # fmt: skip
    account.tier, account.tier_since = to_tier, moment
    session.add(change)
    session.flush()
    return change


def refresh_tier(
    *, session: Session, customer_id: int, moment: datetime | None = None
) -> TierChange | None:
    """Upgrade at once when the customer qualifies higher; downgrade only if the rulebook
    says `downgrade: immediate` (otherwise the period-end job does it)."""
    moment = moment or now()
    rules = loyalty_rules(session)
    _shift(session, customer_id, 0)  # lock the account row while deciding
    account = session.get(LoyaltyAccount, customer_id, populate_existing=True)
    assert account is not None
    target = tier_for(
        rules, qualifying_value(session=session, customer_id=customer_id, moment=moment)
    )
    target_id = target.id if target else None
    up = rank(rules, target_id) > rank(rules, account.tier)
    down = rank(rules, target_id) < rank(rules, account.tier) and rules.downgrade == "immediate"
    if up or down:
        return _change_tier(session, account, target_id, moment, "upgrade" if up else "downgrade")
    return None
