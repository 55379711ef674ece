"""Who may do what (roles and permissions) and which records they may see (record rules).

`visible_customers(actor)` is the one filter every customer-related query applies: lists,
details, searches, exports and aggregates. A record outside it does not exist for the actor
(404, never 403), so its existence is not disclosed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, false, or_, select, true
from sqlalchemy.orm import Session

from patron.auth.models import Role, User
from patron.customers.models import Customer
from patron.engagement.models import Task
from patron.errors import Forbidden, NotFound
from patron.service.models import Ticket


class Access(enum.StrEnum):
    read = "read"
    write = "write"


class Permission(enum.StrEnum):
    """A thing a role may do; `scope` is what an API token needs for it."""

    customers_read = "customers.read"
    customers_write = "customers.write"
    customers_assign = "customers.assign"
    personal_data_unmask = "personal_data.unmask"
    scores_read = "scores.read"
    kpi_read = "kpi.read"
    rules_read = "rules.read"
    rules_write = "rules.write"
    imports_write = "imports.write"
    exports_read = "exports.read"
    audit_read = "audit.read"
    users_admin = "users.admin"
    tokens_admin = "tokens.admin"
    orders_ingest = "orders.ingest"
    webhooks_admin = "webhooks.admin"

    @property
    def resource(self) -> str:
        """The token resource this permission touches."""
        return self.value.split(".")[0]

    @property
    def access(self) -> Access:
        """Whether a token needs read or write access to the resource."""
        return Access.read if self.value.endswith((".read", ".unmask")) else Access.write


# Every role reads KPIs and exports, computed only over the customers it may see.
_READER = {
    Permission.customers_read,
    Permission.scores_read,
    Permission.kpi_read,
    Permission.exports_read,
}
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.admin: frozenset(Permission),
    Role.manager: frozenset(
        _READER
        | {
            Permission.customers_write,
            Permission.customers_assign,
            Permission.personal_data_unmask,
            Permission.rules_read,
            Permission.imports_write,
        }
    ),
    Role.agent: frozenset(_READER | {Permission.customers_write}),
    Role.analyst: frozenset(_READER | {Permission.rules_read}),
}
RESOURCES = frozenset(permission.resource for permission in Permission)


@dataclass(frozen=True)
class Actor:
    """The user behind a request, and how they came: a browser session or an API token."""

    user_id: int
    username: str
    role: Role
    team: str | None
    via: str
    scopes: frozenset[str] | None = None

    @classmethod
    def of(cls, user: User, *, via: str, scopes: frozenset[str] | None = None) -> Actor:
        """The actor for a signed-in user (`scopes` only for tokens)."""
        return cls(user.id, user.username, user.role, user.team, via, scopes)

    def can(self, permission: Permission) -> bool:
        """Whether the role allows it and, for a token, its scopes do too."""
        if permission not in ROLE_PERMISSIONS[self.role]:
            return False
        return self.scopes is None or scope_allows(self.scopes, permission)

    def require(self, permission: Permission) -> None:
        """Refuse with 403 unless the actor may do this."""
        if permission not in ROLE_PERMISSIONS[self.role]:
            raise Forbidden(f"a {self.role.value} may not do this")
        if self.scopes is not None and not scope_allows(self.scopes, permission):
            needed = f"{permission.resource}:{permission.access.value}"
            raise Forbidden(f"this API token lacks the scope '{needed}'")


def scope_allows(scopes: frozenset[str], permission: Permission) -> bool:
    """Whether scopes such as `customers:read` or `*:write` cover the permission (write ⊇ read)."""
    accesses = [Access.write] if permission.access is Access.write else [Access.read, Access.write]
    resources = (permission.resource, "*")
    return any(
        f"{resource}:{access.value}" in scopes for resource in resources for access in accesses
    )


def _team_ids(team: str | None) -> Select[int]:
    # Never correlated: the rules hold inside queries that join users or customers themselves.
    return select(User.id).where(User.team == team).correlate(None)


def _customer_ids(condition: ColumnElement[bool]) -> Select[int]:
    return select(Customer.id).where(condition).correlate(None)


def _team_members(team: str | None) -> ColumnElement[bool]:
    if team is None:
        return false()
    return Customer.owner_id.in_(_team_ids(team))


def visible_customers(actor: Actor) -> ColumnElement[bool]:
    """The customers the actor may see: all (admin, analyst), the team's and the pool
    (manager), their own and the pool (agent)."""
    pool = Customer.owner_id.is_(None)
    if actor.role in (Role.admin, Role.analyst):
        return true()
    if actor.role is Role.manager:
        return or_(pool, Customer.owner_id == actor.user_id, _team_members(actor.team))
    return or_(pool, Customer.owner_id == actor.user_id)


def sees_every_customer(actor: Actor) -> bool:
    """Whether the record rules let the actor see every customer (admins and analysts)."""
    return actor.role in (Role.admin, Role.analyst)


def customer_scope(actor: Actor) -> ColumnElement[bool] | None:
    """`visible_customers` for aggregates (KPIs, exports), or None when the actor sees every
    customer, so their queries carry no filter at all."""
    return None if sees_every_customer(actor) else visible_customers(actor)


def writable_customers(actor: Actor) -> ColumnElement[bool]:
    """The visible customers the actor may change: an agent changes only their own, since a
    pool customer must be claimed first."""
    if actor.role is Role.analyst:
        return false()
    if actor.role is Role.agent:
        return Customer.owner_id == actor.user_id
    return visible_customers(actor)


def visible_customer(
    session: Session, actor: Actor, customer_id: int, *, for_update: bool = False
) -> Customer:
    """The customer if the actor may see it; NotFound otherwise, exactly as if it did not exist."""
    query = select(Customer).where(Customer.id == customer_id, visible_customers(actor))
    if for_update:
        query = query.with_for_update()
    customer = session.scalar(query)
    if customer is None:
        raise NotFound(f"no customer with id {customer_id}")
    return customer


def require_visible_customer(session: Session, actor: Actor, customer_id: int) -> None:
    """`visible_customer` for a caller that needs only to know: NotFound unless the actor
    may see it, and nothing loaded (one indexed query for the id)."""
    query = select(Customer.id).where(Customer.id == customer_id, visible_customers(actor))
    if session.scalar(query) is None:
        raise NotFound(f"no customer with id {customer_id}")


def require_writable(session: Session, actor: Actor, customer: Customer) -> None:
    """Refuse with 403 a change to a customer the actor sees but may not change."""
    query = select(Customer.id).where(Customer.id == customer.id, writable_customers(actor))
    if session.scalar(query) is None:
        raise Forbidden("you may see this customer but not change it (claim it first)")


def sees_personal_data(actor: Actor, customer: Customer) -> bool:
    """Whether the actor sees a customer's phone, email, address and birthday unmasked:
    only an agent on their own customer. Everyone else gets masked values; admins and
    managers may unmask one customer on purpose, which is audited."""
    return actor.role is Role.agent and customer.owner_id == actor.user_id


def may_own(actor: Actor, owner: User | None) -> bool:
    """Whether the actor may give a customer to `owner` (None: the public pool)."""
    if actor.role is Role.admin:
        return True
    if actor.role is Role.manager:
        return owner is None or (actor.team is not None and owner.team == actor.team)
    if actor.role is Role.agent:
        return owner is not None and owner.id == actor.user_id
    return False


def _own_customers(actor: Actor) -> ColumnElement[bool]:
    """Customers the actor owns (not the pool: a pool customer's work is nobody's yet)."""
    return Customer.owner_id == actor.user_id


def visible_tasks(actor: Actor) -> ColumnElement[bool]:
    """Tasks the actor may see: an agent those assigned to them and those about their own
    customers; a manager also the team's and those about customers they see; admins and
    analysts all. Every task route and list applies it, so an unseen task is a 404."""
    if actor.role in (Role.admin, Role.analyst):
        return true()
    own = Task.assignee_id == actor.user_id
    if actor.role is Role.agent:
        mine = Task.customer_id.in_(_customer_ids(_own_customers(actor)))
        return or_(own, mine)
    team = Task.assignee_id.in_(_team_ids(actor.team))
    about = Task.customer_id.in_(_customer_ids(visible_customers(actor)))
    return or_(own, and_(Task.assignee_id.is_not(None), team), about)


def visible_tickets(actor: Actor) -> ColumnElement[bool]:
    """Tickets the actor may see, by the same rule as tasks."""
    if actor.role in (Role.admin, Role.analyst):
        return true()
    own = Ticket.assignee_id == actor.user_id
    if actor.role is Role.agent:
        mine = Ticket.customer_id.in_(_customer_ids(_own_customers(actor)))
        return or_(own, mine)
    team = Ticket.assignee_id.in_(_team_ids(actor.team))
    about = Ticket.customer_id.in_(_customer_ids(visible_customers(actor)))
    return or_(own, and_(Ticket.assignee_id.is_not(None), team), about)


def visible_task(session: Session, actor: Actor, task_id: int, *, for_update: bool = False) -> Task:
    """The task if the actor may see it; NotFound otherwise, as if it did not exist."""
    query = select(Task).where(Task.id == task_id, visible_tasks(actor))
    task = session.scalar(query.with_for_update() if for_update else query)
    if task is None:
        raise NotFound(f"no task with id {task_id}")
    return task


def visible_ticket(
    session: Session, actor: Actor, ticket_id: int, *, for_update: bool = False
) -> Ticket:
    """The ticket if the actor may see it; NotFound otherwise, as if it did not exist."""
    query = select(Ticket).where(Ticket.id == ticket_id, visible_tickets(actor))
    ticket = session.scalar(query.with_for_update() if for_update else query)
    if ticket is None:
        raise NotFound(f"no ticket with id {ticket_id}")
    return ticket
