from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.audit.models import AuditEntry
from patron.customers import repository, service
from patron.customers.dedupe import Ownership
from patron.customers.models import Customer
from patron.customers.schemas import (
    CustomerIn,
    CustomerOut,
    CustomerPatch,
    DedupePolicy,
    MatchKey,
)
from patron.errors import Conflict, InvalidInput, NotFound
from tests import builders


def new(**fields: Any) -> CustomerIn:
    return CustomerIn.parse({"name": "王五", **fields})


def customers(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Customer)) or 0


def audit_actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_customer_in_normalises_keys_and_reports_every_problem_at_once() -> None:
    data = new(
        phone="138-0013-8000",
        email=" W@Example.COM ",
        credit_code="91 abc",
        city=" 上海 ",
        tags=["vip", " vip ", ""],
    )
    assert (data.phone, data.email, data.credit_code, data.city, data.tags) == (
        "+8613800138000",
        "w@example.com",
        "91ABC",
        "上海",
        ["vip"],
    )
    with pytest.raises(InvalidInput) as error:
        CustomerIn.parse({"name": "  ", "phone": "12345", "email": "nobody"})
    assert error.value.message == (
        "name: a customer needs a name; "
        "phone: '12345' is not a valid phone number for region CN; "
        "email: 'nobody' is not an email address"
    )


def test_create_stores_normalised_keys_initials_owner_tags_and_an_audit_entry(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        agent = builders.user(session)
        saved = service.create(
            session=session,
            data=new(phone="138 0013 8000", email="W@x.cn", tags=["vip"]),
            acting_user_id=agent.id,
        )
        session.commit()
    with sessions() as session:
        stored = session.get_one(Customer, saved.customer.id)
        assert (stored.name_initials, stored.phone, stored.email) == (
            "ww",
            "+8613800138000",
            "w@x.cn",
        )
        assert stored.owner_id == agent.id and stored.owned_since is not None
        assert stored.external_id.startswith("C")
        assert repository.tags_of(session, stored.id) == {"vip"}
        assert audit_actions(session) == ["customer.create"]
        shown = CustomerOut.model_validate(stored)
        assert (shown.external_id, shown.phone) == (stored.external_id, "+8613800138000")
    assert saved.warnings == () and not saved.merged


def test_the_service_never_commits(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        service.create(session=session, data=new())
        session.rollback()
        assert customers(session) == 0


def test_create_blocks_a_duplicate_naming_it_the_key_and_its_owner(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        colleague = builders.user(session, "wang", display_name="王经理")
        builders.customer(
            session, "王五", external_id="C-1", phone="+86 13800138000", owner_id=colleague.id
        )
        with pytest.raises(Conflict) as error:
            service.create(session=session, data=new(name="王小五", phone="138-0013-8000"))
        assert customers(session) == 1
    assert error.value.message == (
        "this looks like an existing customer: customer '王五' (C-1) has the same phone, "
        "owned by 王经理"
    )
    assert error.value.detail["matches"][0]["ownership"] == "other"


def test_a_blocked_duplicate_in_the_pool_says_so(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        builders.company(session, "甲科技有限公司", external_id="P-9")
        with pytest.raises(
            Conflict,
            match=r"'甲科技有限公司' \(P-9\) has the same company name, "
            "in the public pool",
        ):
            service.create(session=session, data=new(name="甲科技有限公司", kind="company"))


def test_warn_entry_point_creates_and_returns_the_matches(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        first = builders.customer(session, "王五", email="w@x.cn")
        saved = service.create(session=session, data=new(email="W@X.cn"), entry_point="api")
        assert customers(session) == 2
    assert [(m.customer_id, m.key, m.ownership) for m in saved.warnings] == [
        (first.id, MatchKey.email, Ownership.pool)
    ]


def test_a_fuzzy_match_only_warns_unless_the_policy_makes_its_key_decisive(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        builders.customer(session, "John Smith", city="上海")
        saved = service.create(session=session, data=new(name="Jon Smith", city="上海"))
        assert [m.key for m in saved.warnings] == [MatchKey.name_city]
        strict = DedupePolicy(decisive_keys=frozenset({MatchKey.name_city}))
        with pytest.raises(Conflict, match="same name and city"):
            service.create(session=session, data=new(name="John Smith", city="上海"), policy=strict)


def test_merge_entry_point_folds_the_input_into_the_match(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        existing = builders.customer(session, "王五", phone="13800138000", city="上海")
        builders.tag(session, existing, "old")
        saved = service.create(
            session=session,
            entry_point="import",
            data=new(phone="13800138000", city="北京", email="w@x.cn", tags=["new"]),
        )
        assert saved.merged and saved.customer.id == existing.id
        assert (existing.city, existing.email) == ("上海", "w@x.cn")
        assert repository.tags_of(session, existing.id) == {"old", "new"}
        assert customers(session) == 1


def test_create_refuses_an_external_id_in_use(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        builders.customer(session, "甲", external_id="C-1")
        with pytest.raises(Conflict, match="a customer with id 'C-1' already exists"):
            service.create(session=session, data=new(external_id="C-1"))


def test_update_checks_only_changed_keys_and_blocks_a_collision(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        builders.customer(session, "甲", phone="13800138000", external_id="C-1")
        twin = builders.customer(session, "乙", phone="13800138000")
        other = builders.customer(session, "丙", email="b@x.cn")
        # An old duplicate does not stop a change to an unrelated field.
        service.update(
            session=session, customer_id=twin.id, changes=CustomerPatch(address="长安街1号")
        )
        with pytest.raises(Conflict, match=r"\(C-1\) has the same phone"):
            service.update(
                session=session,
                customer_id=other.id,
                changes=CustomerPatch.parse({"phone": "138-0013-8000"}),
            )
        assert other.phone is None
        changed = service.update(
            session=session, customer_id=other.id, changes=CustomerPatch(name="丙二", tags=["x"])
        )
        assert (changed.customer.name, changed.customer.name_initials) == ("丙二", "be")
        assert repository.tags_of(session, other.id) == {"x"}


def test_update_with_merge_folds_the_customer_into_its_duplicate(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        keeper = builders.customer(session, "甲", email="a@x.cn")
        leaving = builders.customer(session, "乙")
        builders.order(session, leaving)
        saved = service.update(
            session=session,
            customer_id=leaving.id,
            changes=CustomerPatch(email="A@x.cn"),
            entry_point="import",
        )
        assert saved.merged and saved.customer.id == keeper.id
        assert leaving.merged_into_id == keeper.id and leaving.deleted_at is not None


def test_update_refuses_missing_merged_and_emptied_customers(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        keeper = builders.customer(session, "甲", external_id="K")
        gone = builders.customer(session, "乙", merged_into_id=keeper.id)
        with pytest.raises(NotFound):
            service.update(session=session, customer_id=10_000, changes=CustomerPatch())
        with pytest.raises(Conflict, match="was merged into 'K'"):
            service.update(session=session, customer_id=gone.id, changes=CustomerPatch())
        with pytest.raises(InvalidInput, match="cannot be emptied"):
            service.update(session=session, customer_id=keeper.id, changes=CustomerPatch(name=None))
