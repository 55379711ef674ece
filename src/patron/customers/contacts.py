"""/api/v1/customers/{id}/contacts: the people at a company customer.

Contacts follow their customer's record rules: a customer the caller may not see has no
contacts for them (404), and only callers who may change the customer change its contacts.
Phones and emails are masked exactly as the customer's own are (`sees_personal_data`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from patron.api.access import (
    Actor,
    Permission,
    require_writable,
    sees_personal_data,
    visible_customer,
)
from patron.api.deps import SessionDep, requires
from patron.api.errors import responses
from patron.api.masking import mask_personal
from patron.audit.service import record
from patron.customers import normalise
from patron.customers.models import Contact, Customer, CustomerKind
from patron.errors import InvalidInput, NotFound

router = APIRouter(
    prefix="/customers/{customer_id}/contacts",
    tags=["contacts"],
    responses=responses(401, 403, 404, 422),
)
Reader = Annotated[Actor, requires(Permission.customers_read)]
Writer = Annotated[Actor, requires(Permission.customers_write)]


def _checked(call: Any, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        result: str = call(value)
    except Exception as exc:  # the normalisers raise their own kinds; all mean bad input
        raise ValueError(str(exc)) from exc
    return result


class _ContactFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("phone", check_fields=False)
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return _checked(normalise.phone, value)

    @field_validator("email", check_fields=False)
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return _checked(normalise.email, value)


class ContactIn(_ContactFields):
    """A new contact; phones become E.164 and emails lower-case, as for customers."""

    name: str = Field(min_length=1, max_length=128)
    title: str | None = Field(default=None, max_length=128)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)
    is_primary: bool = False


class ContactPatch(_ContactFields):
    """The fields to change (null empties an optional one)."""

    name: str | None = Field(default=None, min_length=1, max_length=128)
    title: str | None = Field(default=None, max_length=128)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)
    is_primary: bool | None = None


class ContactView(BaseModel):
    """A contact; phone and email masked unless `masked` is false."""

    id: int
    customer_id: int
    name: str
    title: str | None
    phone: str | None
    email: str | None
    is_primary: bool
    masked: bool


def _present(actor: Actor, customer: Customer, contact: Contact) -> ContactView:
    fields: dict[str, Any] = {
        name: getattr(contact, name) for name in ContactView.model_fields if name != "masked"
    }
    plain = sees_personal_data(actor, customer)
    return ContactView.model_validate(
        (fields if plain else mask_personal(fields)) | {"masked": not plain}
    )


def _company(session: Session, actor: Actor, customer_id: int) -> Customer:
    """The customer, if the caller may change it and it is a company."""
    customer = visible_customer(session, actor, customer_id)
    require_writable(session, actor, customer)
    if customer.kind is not CustomerKind.company:
        raise InvalidInput(f"customer {customer_id} is a person: only companies have contacts")
    return customer


def _contact(session: Session, customer_id: int, contact_id: int) -> Contact:
    contact = session.scalar(
        select(Contact).where(Contact.id == contact_id, Contact.customer_id == customer_id)
    )
    if contact is None:
        raise NotFound(f"customer {customer_id} has no contact with id {contact_id}")
    return contact


def _only_primary(session: Session, contact: Contact) -> None:
    """One primary contact per customer: making one primary demotes the others."""
    session.execute(
        update(Contact)
        .where(Contact.customer_id == contact.customer_id, Contact.id != contact.id)
        .values(is_primary=False)
    )


def _audit(session: Session, actor: Actor, action: str, contact: Contact, **extra: Any) -> None:
    record(
        session=session, action=f"contact.{action}", entity="customer",
        entity_id=contact.customer_id, user_id=actor.user_id, contact_id=contact.id, **extra,
    )  # fmt: skip


@router.get("", summary="A company customer's contacts")
def list_contacts(session: SessionDep, actor: Reader, customer_id: int) -> list[ContactView]:
    """The contacts of a customer the caller may see, the primary one first."""
    customer = visible_customer(session, actor, customer_id)
    rows = session.scalars(
        select(Contact)
        .where(Contact.customer_id == customer.id)
        .order_by(Contact.is_primary.desc(), Contact.id)
    )
    return [_present(actor, customer, row) for row in rows]


@router.post("", status_code=201, summary="Add a contact to a company customer")
def create_contact(
    session: SessionDep, actor: Writer, customer_id: int, data: ContactIn
) -> ContactView:
    """A new contact of a company customer the caller may change."""
    customer = _company(session, actor, customer_id)
    contact = Contact(customer_id=customer.id, **data.model_dump())
    session.add(contact)
    session.flush()
    if contact.is_primary:
        _only_primary(session, contact)
    _audit(session, actor, "create", contact)
    return _present(actor, customer, contact)


@router.patch("/{contact_id}", summary="Change a contact")
def update_contact(
    session: SessionDep, actor: Writer, customer_id: int, contact_id: int, changes: ContactPatch
) -> ContactView:
    """Change the given fields of a contact of a customer the caller may change."""
    customer = _company(session, actor, customer_id)
    contact = _contact(session, customer.id, contact_id)
    values = changes.model_dump(exclude_unset=True)
    if "name" in values and values["name"] is None:
        raise InvalidInput("a contact's name cannot be emptied")
    if values.get("is_primary") is None:
        values.pop("is_primary", None)
    for name, value in values.items():
        setattr(contact, name, value)
    session.flush()
    if contact.is_primary:
        _only_primary(session, contact)
    _audit(session, actor, "update", contact, fields=sorted(values))
    return _present(actor, customer, contact)


@router.delete("/{contact_id}", status_code=204, summary="Remove a contact")
def delete_contact(
    session: SessionDep, actor: Writer, customer_id: int, contact_id: int
) -> Response:
    """Remove a contact of a customer the caller may change."""
    customer = _company(session, actor, customer_id)
    contact = _contact(session, customer.id, contact_id)
    _audit(session, actor, "delete", contact)
    session.delete(contact)
    return Response(status_code=204)
