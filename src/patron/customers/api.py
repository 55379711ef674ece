"""/api/v1/customers: list, detail, create, update, unmask and ownership moves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field, TypeAdapter
from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session

from patron.api.access import (
    Actor,
    Permission,
    may_own,
    require_writable,
    sees_personal_data,
    visible_customer,
    visible_customers,
)
from patron.api.customer_search import SORT_KEYS, FiltersDep, customer_query, tags_by_customer
from patron.api.deps import SessionDep, answer, requires
from patron.api.errors import responses
from patron.api.masking import PERSONAL_FIELDS, mask_personal
from patron.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, paginate
from patron.audit.service import record
from patron.auth.models import User
from patron.customers import repository, service
from patron.customers.dedupe import Match
from patron.customers.models import SCORE_NAMES, Customer, CustomerKind, CustomerScore
from patron.customers.schemas import CustomerIn, CustomerPatch, EntryPoint
from patron.errors import Conflict, Forbidden, InvalidInput, NotFound
from patron.pool import service as pool
from patron.wire import LocalDateTime

router = APIRouter(prefix="/customers", tags=["customers"], responses=responses(401, 403, 422))
Reader = Annotated[Actor, requires(Permission.customers_read)]
Writer = Annotated[Actor, requires(Permission.customers_write)]


class CustomerView(BaseModel):
    """A customer as the API shows it; personal fields are masked unless `masked` is false."""

    id: int
    external_id: str
    kind: CustomerKind
    name: str
    phone: str | None
    email: str | None
    gender: str | None
    birthday: str | None
    province: str | None
    city: str | None
    address: str | None
    industry: str | None
    company: str | None
    credit_code: str | None
    source: str | None
    owner_id: int | None
    owner_name: str | None
    tags: list[str]
    grade: str | None
    stage: str | None
    rfm_segment: str | None
    value_class: str | None
    clv: Decimal | None
    churn_risk: float | None
    p_alive: float | None
    scored_at: LocalDateTime | None
    merged_into_id: int | None
    deleted_at: LocalDateTime | None
    created_at: LocalDateTime
    updated_at: LocalDateTime
    masked: bool


CUSTOMER_VIEW = TypeAdapter(CustomerView)
CUSTOMER_PAGE = TypeAdapter(Page[CustomerView])


class DuplicateWarning(BaseModel):
    """A customer the saved one may duplicate; who it is stays hidden unless visible."""

    key: str
    score: float
    ownership: str
    customer_id: int | None = None
    external_id: str | None = None
    name: str | None = None
    owner_name: str | None = None


class Saved(BaseModel):
    """A customer just created or changed, with the possible duplicates it was saved despite."""

    customer: CustomerView
    warnings: list[DuplicateWarning]
    merged: bool


class PersonalData(BaseModel):
    """A customer's unmasked personal fields."""

    id: int
    phone: str | None
    email: str | None
    address: str | None
    birthday: date | None


class OwnerMove(BaseModel):
    """Give a customer to a user, or to the public pool with `owner_id` null."""

    owner_id: int | None
    reason: str = Field(default="assigned", min_length=1, max_length=32)


# The customer's own columns a view shows (owner name, tags and masking are added).
VIEW_FIELDS = tuple(
    name for name in CustomerView.model_fields if name not in ("owner_name", "tags", "masked")
)
# The scores from the `customer_scores` row `customer_query` joins, and the owner's name
# from the users row joined by `with_owner_name` (`repository.owner_names`' rule).
VIEW_COLUMNS = tuple(
    getattr(CustomerScore if name in SCORE_NAMES else Customer, name) for name in VIEW_FIELDS
)
# As `repository.owner_names`: an empty display name falls back to the user name.
OWNER_NAME = func.coalesce(func.nullif(User.display_name, ""), User.username).label("owner_name")


def with_owner_name(query: Select[Any]) -> Select[Any]:
    """A query of customers as rows of `VIEW_COLUMNS` and `owner_name` (None for the pool):
    the view's columns in one query, no entities."""
    return query.with_only_columns(*VIEW_COLUMNS, OWNER_NAME).outerjoin(
        User, User.id == Customer.owner_id
    )


def present(session: Session, actor: Actor, customers: Sequence[Any]) -> list[CustomerView]:
    """API views of customers (entities, or rows of `with_owner_name`), masked as the
    actor's role requires, tags and owners included."""
    tags = tags_by_customer(session, [c.id for c in customers])
    rows = bool(customers) and isinstance(customers[0], Row)
    owners = (
        {}
        if rows
        else repository.owner_names(session, [c.owner_id for c in customers if c.owner_id])
    )
    views = []
    for customer in customers:
        fields: dict[str, Any] = (
            customer._asdict()
            if rows
            else {name: getattr(customer, name) for name in VIEW_FIELDS}
            | {"owner_name": owners.get(customer.owner_id) if customer.owner_id else None}
        )
        fields["birthday"] = customer.birthday.isoformat() if customer.birthday else None
        plain = sees_personal_data(actor, customer)
        if not plain:
            fields = mask_personal(fields)
        fields |= {"tags": tags[customer.id], "masked": not plain}
        views.append(CustomerView.model_validate(fields))
    return views


def _warnings(session: Session, actor: Actor, matches: tuple[Match, ...]) -> list[DuplicateWarning]:
    ids = [m.customer_id for m in matches]
    seen = set(
        session.scalars(select(Customer.id).where(Customer.id.in_(ids), visible_customers(actor)))
    )
    return [
        DuplicateWarning(
            key=m.key.value,
            score=round(m.score, 1),
            ownership=m.ownership.value,
            **(
                {
                    "customer_id": m.customer_id,
                    "external_id": m.external_id,
                    "name": m.name,
                    "owner_name": m.owner_name,
                }
                if m.customer_id in seen
                else {}
            ),
        )
        for m in matches
    ]


def _saved(session: Session, actor: Actor, saved: service.Saved) -> Saved:
    return Saved(
        customer=present(session, actor, [saved.customer])[0],
        warnings=_warnings(session, actor, saved.warnings),
        merged=saved.merged,
    )


@router.get("", summary="List customers", response_model=Page[CustomerView])
def list_customers(
    session: SessionDep,
    actor: Reader,
    filters: FiltersDep,
    sort: Annotated[str, Query(description=f"One of {', '.join(SORT_KEYS)}; '-' descends")] = "id",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Response:
    """The customers the caller may see, filtered, sorted and a page at a time."""
    # Plain rows of the shown columns: a page needs no entities (their loading cost more
    # than the query).
    rows, next_cursor = paginate(
        session,
        with_owner_name(customer_query(session, actor, filters)),
        sort=sort,
        keys=SORT_KEYS,
        id_column=Customer.id,
        cursor=cursor,
        limit=limit,
        rows=True,
    )
    page = Page[CustomerView](
        items=present(session, actor, rows), next_cursor=next_cursor, limit=limit
    )
    return answer(session, CUSTOMER_PAGE, page)


@router.get(
    "/{customer_id}", summary="One customer", responses=responses(404), response_model=CustomerView
)
def get_customer(session: SessionDep, actor: Reader, customer_id: int) -> Response:
    """A customer the caller may see (404 for one they may not)."""
    # One row with its scores and owner's name (`visible_customer` would load the entity,
    # then its score row, then the owner: three queries and the ORM's objects).
    query = with_owner_name(
        select(Customer)
        .outerjoin(CustomerScore, CustomerScore.customer_id == Customer.id)
        .where(Customer.id == customer_id, visible_customers(actor))
    )
    row = session.execute(query).first()
    if row is None:
        raise NotFound(f"no customer with id {customer_id}")
    return answer(session, CUSTOMER_VIEW, present(session, actor, [row])[0])


def _owner(session: Session, actor: Actor, owner_id: int | None) -> User | None:
    owner = None if owner_id is None else session.get(User, owner_id)
    if owner_id is not None and (owner is None or not owner.active):
        raise InvalidInput(f"there is no active user with id {owner_id} to own the customer")
    if not may_own(actor, owner):
        raise Forbidden("you may not give a customer to that owner")
    return owner


@router.post("", status_code=201, summary="Create a customer", responses=responses(409))
def create_customer(session: SessionDep, actor: Writer, data: CustomerIn) -> Saved:
    """Add a customer after the duplicate check; it belongs to `owner_id`, else the caller."""
    _owner(session, actor, data.owner_id if data.owner_id is not None else actor.user_id)
    saved = service.create(
        session=session, data=data, acting_user_id=actor.user_id, entry_point=EntryPoint.api
    )
    return _saved(session, actor, saved)


@router.patch("/{customer_id}", summary="Change a customer", responses=responses(404, 409))
def update_customer(
    session: SessionDep, actor: Writer, customer_id: int, changes: CustomerPatch
) -> Saved:
    """Change the given fields; a change to a key field runs the duplicate check."""
    require_writable(session, actor, visible_customer(session, actor, customer_id))
    saved = service.update(
        session=session,
        customer_id=customer_id,
        changes=changes,
        acting_user_id=actor.user_id,
        entry_point=EntryPoint.api,
    )
    return _saved(session, actor, saved)


@router.post(
    "/{customer_id}/unmask", summary="Show personal data (audited)", responses=responses(404)
)
def unmask_customer(
    session: SessionDep,
    actor: Annotated[Actor, requires(Permission.personal_data_unmask)],
    customer_id: int,
) -> PersonalData:
    """The customer's phone, email, address and birthday in full; the audit log records it."""
    customer = visible_customer(session, actor, customer_id)
    record(
        session=session,
        action="customer.unmask",
        entity="customer",
        entity_id=customer.id,
        user_id=actor.user_id,
        fields=list(PERSONAL_FIELDS),
    )
    return PersonalData.model_validate(customer, from_attributes=True)


@router.post(
    "/{customer_id}/owner", summary="Move a customer to an owner", responses=responses(404)
)
def move_owner(
    session: SessionDep,
    actor: Annotated[Actor, requires(Permission.customers_assign)],
    customer_id: int,
    move: OwnerMove,
) -> CustomerView:
    """Give the customer to a user or the public pool; recorded and audited."""
    customer = visible_customer(session, actor, customer_id, for_update=True)
    owner = _owner(session, actor, move.owner_id)
    if customer.owner_id != move.owner_id:
        moved = pool.assign(
            session=session, customer=customer, owner_id=owner.id if owner else None,
            by_user_id=actor.user_id, reason=move.reason, action="customer.owner",
            expected_owner_id=customer.owner_id,
        )  # fmt: skip
        if not moved:
            raise Conflict("the customer's owner changed a moment ago: look again")
    return present(session, actor, [customer])[0]
