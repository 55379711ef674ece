"""Creating, changing and merging customers, with the duplicate check on the way in.

Every function works inside the caller's unit of work and never commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from patron.analytics.snapshot_keys import hold_snapshots
from patron.audit.service import record
from patron.customers import normalise, repository
from patron.customers.dedupe import Candidate, Match
from patron.customers.dedupe import find_duplicates as _find_duplicates
from patron.customers.models import Customer
from patron.customers.schemas import (
    KEY_FIELDS,
    Action,
    CustomerIn,
    CustomerPatch,
    DedupePolicy,
    EntryPoint,
)
from patron.db import now
from patron.errors import Conflict, InvalidInput, NotFound
from patron.notify import webhooks

DEFAULT_POLICY = DedupePolicy()

# Fields a merge (or a duplicate folded in) copies to the survivor where the survivor has none.
FILLABLE = normalise.PROFILE_FIELDS


@dataclass(frozen=True)
class Saved:
    """The customer written, the possible duplicates it was saved despite, and whether the
    input was folded into an existing customer instead of saved on its own."""

    customer: Customer
    warnings: tuple[Match, ...] = ()
    merged: bool = False


@dataclass(frozen=True)
class MergeReport:
    """What a merge moved (rows per kind, points) and which empty fields it filled."""

    source_id: int
    into_id: int
    moved: dict[str, int] = field(default_factory=dict)
    filled: tuple[str, ...] = ()


def get(*, session: Session, customer_id: int) -> Customer:
    """The customer with this id, or NotFound."""
    customer = repository.get(session, customer_id)
    if customer is None:
        raise NotFound(f"no customer with id {customer_id}")
    return customer


def by_external_id(*, session: Session, external_id: str) -> Customer:
    """The customer known outside Patron by this id, or NotFound."""
    customer = repository.by_external_id(session, external_id)
    if customer is None:
        raise NotFound(f"no customer '{external_id}'")
    return customer


def blocked_message(matches: list[Match]) -> str:
    """Why a save was refused: the first decisive match, and how many more there are."""
    more = f" (and {len(matches) - 1} more)" if len(matches) > 1 else ""
    return f"this looks like an existing customer: {matches[0].describe()}{more}"


def _decide(
    matches: list[Match], policy: DedupePolicy, entry_point: EntryPoint | str
) -> tuple[Action, Match | None]:
    decisive = [m for m in matches if policy.is_decisive(m.key, m.score)]
    action = policy.action(entry_point)
    if not decisive or action is Action.warn:
        return Action.warn, None
    if action is Action.block:
        raise Conflict(
            blocked_message(decisive), detail={"matches": [m.as_dict() for m in decisive]}
        )
    return Action.merge, decisive[0]


def _fill_empty(survivor: Customer, values: dict[str, Any]) -> list[str]:
    filled = []
    for name in FILLABLE:
        value = values.get(name)
        if value not in (None, "") and getattr(survivor, name) in (None, ""):
            setattr(survivor, name, value)
            filled.append(name)
    extra = values.get("custom_fields") or {}
    if extra and not extra.keys() <= survivor.custom_fields.keys():
        survivor.custom_fields = {**extra, **survivor.custom_fields}
        filled.append("custom_fields")
    return filled


def create(
    *,
    session: Session,
    data: CustomerIn,
    acting_user_id: int | None = None,
    entry_point: EntryPoint | str = EntryPoint.create,
    policy: DedupePolicy = DEFAULT_POLICY,
) -> Saved:
    """Add a customer after the duplicate check; its owner is `owner_id`, else the acting user."""
    if data.external_id and repository.external_id_taken(session, data.external_id):
        raise Conflict(f"a customer with id '{data.external_id}' already exists")
    matches = _find_duplicates(
        session=session, candidate=data, policy=policy, acting_user_id=acting_user_id
    )
    action, target = _decide(matches, policy, entry_point)
    if action is Action.merge and target is not None:
        return _fold_into(session, target, data, matches, acting_user_id, entry_point)
    values = data.model_dump(exclude={"tags", "external_id", "owner_id"})
    owner_id = data.owner_id if data.owner_id is not None else acting_user_id
    customer = Customer(
        **values,
        external_id=data.external_id or f"C{uuid.uuid4().hex[:12].upper()}",
        name_initials=normalise.initials(data.name),
        owner_id=owner_id,
        owned_since=now() if owner_id is not None else None,
    )
    session.add(customer)
    session.flush()
    repository.add_tags(session, customer.id, data.tags)
    record(
        session=session,
        action="customer.create",
        entity="customer",
        entity_id=customer.id,
        user_id=acting_user_id,
        external_id=customer.external_id,
        entry_point=str(entry_point),
        warnings=[m.as_dict() for m in matches],
    )
    webhooks.customer_changed(session, "created", customer)
    session.flush()
    return Saved(customer=customer, warnings=tuple(matches))


def _fold_into(
    session: Session,
    target: Match,
    data: CustomerIn,
    matches: list[Match],
    acting_user_id: int | None,
    entry_point: EntryPoint | str,
) -> Saved:
    survivor = get(session=session, customer_id=target.customer_id)
    filled = _fill_empty(survivor, data.model_dump())
    repository.add_tags(session, survivor.id, data.tags)
    record(
        session=session,
        action="customer.update",
        entity="customer",
        entity_id=survivor.id,
        user_id=acting_user_id,
        entry_point=str(entry_point),
        folded_duplicate=data.name,
        matched_on=target.key.value,
        filled=filled,
    )
    webhooks.customer_changed(session, "updated", survivor)
    session.flush()
    others = tuple(m for m in matches if m.customer_id != target.customer_id)
    return Saved(customer=survivor, warnings=others, merged=True)


def _live(session: Session, customer_id: int, *, for_update: bool = False) -> Customer:
    customer = repository.get(session, customer_id, for_update=for_update)
    if customer is None:
        raise NotFound(f"no customer with id {customer_id}")
    if customer.merged_into_id is not None:
        into = repository.get(session, customer.merged_into_id)
        target = into.external_id if into else customer.merged_into_id
        raise Conflict(f"customer '{customer.external_id}' was merged into '{target}'")
    if customer.deleted_at is not None:
        raise Conflict(f"customer '{customer.external_id}' is deleted")
    return customer


def _candidate_after(customer: Customer, values: dict[str, Any]) -> Candidate:
    def pick(name: str) -> Any:
        return values[name] if name in values else getattr(customer, name)

    return Candidate.of(
        Candidate(
            kind=pick("kind"),
            name=pick("name"),
            city=pick("city"),
            phone=pick("phone"),
            email=pick("email"),
            company=pick("company"),
            credit_code=pick("credit_code"),
        )
    )


def update(
    *,
    session: Session,
    customer_id: int,
    changes: CustomerPatch,
    acting_user_id: int | None = None,
    entry_point: EntryPoint | str = EntryPoint.update,
    policy: DedupePolicy = DEFAULT_POLICY,
) -> Saved:
    """Change the given fields; a change to a key field runs the duplicate check first."""
    customer = _live(session, customer_id)
    values = changes.changes()
    tags = values.pop("tags", None)
    if values.get("name", "") is None or values.get("kind", "") is None:
        raise InvalidInput("a customer's name and kind cannot be emptied")
    matches: list[Match] = []
    action, target = Action.warn, None
    if KEY_FIELDS & values.keys():
        matches = _find_duplicates(
            session=session,
            candidate=_candidate_after(customer, values),
            policy=policy,
            exclude_id=customer.id,
            acting_user_id=acting_user_id,
        )
        action, target = _decide(matches, policy, entry_point)
    for name, value in values.items():
        setattr(customer, name, value)
    if "name" in values:
        customer.name_initials = normalise.initials(customer.name)
    if tags is not None:
        repository.replace_tags(session, customer.id, tags)
    record(
        session=session,
        action="customer.update",
        entity="customer",
        entity_id=customer.id,
        user_id=acting_user_id,
        fields=sorted(values) + (["tags"] if tags is not None else []),
        entry_point=str(entry_point),
    )
    webhooks.customer_changed(session, "updated", customer)
    session.flush()
    if action is Action.merge and target is not None:
        merge(
            session=session,
            source_id=customer.id,
            into_id=target.customer_id,
            user_id=acting_user_id,
        )
        survivor = get(session=session, customer_id=target.customer_id)
        others = tuple(m for m in matches if m.customer_id != target.customer_id)
        return Saved(customer=survivor, warnings=others, merged=True)
    return Saved(customer=customer, warnings=tuple(matches))


def merge(
    *, session: Session, source_id: int, into_id: int, user_id: int | None = None
) -> MergeReport:
    """Fold `source_id` into `into_id`: its history moves, the source is soft-deleted, and
    the audit log records what moved. All in the caller's transaction."""
    if source_id == into_id:
        raise InvalidInput("a customer cannot be merged into itself")
    # A run still writing snapshots is waited for first: the source's must all move.
    hold_snapshots(session.connection())
    # Lock both rows in id order so two merges over the same pair cannot deadlock.
    locked = {cid: _live(session, cid, for_update=True) for cid in sorted((source_id, into_id))}
    source, survivor = locked[source_id], locked[into_id]
    moved = {
        name: repository.reassign(session, model, source.id, survivor.id)
        for name, model in repository.MOVABLE.items()
    }
    moved["tags"] = repository.move_tags(session, source.id, survivor.id)
    moved["score_snapshots"], moved["score_snapshots_dropped"] = repository.move_score_snapshots(
        session, source.id, survivor.id
    )
    moved["points"] = repository.move_loyalty(session, source.id, survivor.id)
    moved["merged_customers"] = repository.repoint_merged(session, source.id, survivor.id)
    filled = _fill_empty(
        survivor,
        {name: getattr(source, name) for name in (*FILLABLE, "custom_fields")},
    )
    source.merged_into_id = survivor.id
    source.deleted_at = now()
    record(
        session=session,
        action="customer.merge",
        entity="customer",
        entity_id=survivor.id,
        user_id=user_id,
        source_id=source.id,
        source_external_id=source.external_id,
        into_external_id=survivor.external_id,
        moved=moved,
        filled=filled,
    )
    webhooks.customer_changed(session, "merged", survivor, merged_id=source.id)
    session.flush()
    return MergeReport(source_id=source.id, into_id=survivor.id, moved=moved, filled=tuple(filled))
