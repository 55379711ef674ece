from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from patron.customers import repository
from patron.customers.dedupe import (
    Candidate,
    Match,
    Ownership,
    find_duplicates,
    find_duplicates_batch,
)
from patron.customers.models import CustomerKind
from patron.customers.schemas import Action, CustomerIn, DedupePolicy, EntryPoint, MatchKey
from patron.errors import InvalidInput
from tests import builders

POLICY = DedupePolicy()


def person(name: str, **fields: str) -> CustomerIn:
    return CustomerIn.parse({"name": name, **fields})


def firm(name: str, **fields: str) -> CustomerIn:
    return CustomerIn.parse({"name": name, "kind": "company", **fields})


def check(session: Session, candidate: CustomerIn, **options: object) -> list[Match]:
    policy = options.pop("policy", POLICY)
    assert isinstance(policy, DedupePolicy)
    return find_duplicates(session=session, candidate=candidate, policy=policy, **options)  # type: ignore[arg-type]


# The pure core: no database.


def test_default_policy_order_threshold_and_actions() -> None:
    assert POLICY.keys == (
        MatchKey.credit_code,
        MatchKey.company,
        MatchKey.phone,
        MatchKey.email,
        MatchKey.name_city,
    )
    assert POLICY.threshold == 90
    assert POLICY.action("create") is Action.block
    assert POLICY.action(EntryPoint.import_) is Action.merge
    assert POLICY.action("api") is Action.warn


def test_policy_refuses_nonsense_with_plain_errors() -> None:
    with pytest.raises(InvalidInput, match="threshold: Input should be greater than 0"):
        DedupePolicy.parse({"threshold": 0})
    with pytest.raises(InvalidInput, match="name each key once"):
        DedupePolicy.parse({"keys": ["phone", "phone"]})
    with pytest.raises(InvalidInput, match=r"keys\.1: Input should be 'credit_code'"):
        DedupePolicy.parse({"keys": ["phone", "nickname"]})
    with pytest.raises(InvalidInput, match="unknown entry point 'fax'"):
        POLICY.action("fax")


def test_policy_from_mapping_keeps_defaults_for_unnamed_entry_points() -> None:
    policy = DedupePolicy.parse({"threshold": 85, "actions": {"create": "warn"}})
    assert policy.threshold == 85
    assert policy.action("create") is Action.warn
    assert policy.action("update") is Action.block


def test_candidate_normalises_every_key() -> None:
    candidate = Candidate.of(
        Candidate(
            kind=CustomerKind.company,
            name=" ＡＢＣ 科技 ",
            phone="138-0013-8000",
            email=" Sales@ABC.cn ",
            credit_code="91 310000 mA1fl0ab1x",
        )
    )
    assert candidate.phone == "+8613800138000"
    assert candidate.email == "sales@abc.cn"
    assert candidate.credit_code == "91310000MA1FL0AB1X"
    assert candidate.company_name == "ABC 科技"


def test_match_describes_key_and_holder() -> None:
    match = Match(
        customer_id=1,
        external_id="C1",
        name="王五",
        key=MatchKey.phone,
        score=100,
        ownership=Ownership.other,
        owner_id=7,
        owner_name="李雷",
    )
    assert match.describe() == "customer '王五' (C1) has the same phone, owned by 李雷"
    pooled = Match(
        customer_id=1,
        external_id="C1",
        name="王五",
        key=MatchKey.name_city,
        score=93.4,
        ownership=Ownership.pool,
        owner_id=None,
        owner_name=None,
    )
    assert pooled.describe() == (
        "customer '王五' (C1) has a similar (93%) name and city, in the public pool"
    )


def test_next_prefix_bounds_every_initials_string() -> None:
    assert repository.next_prefix("zs") == "zt"
    assert repository.next_prefix("az") == "b"
    assert repository.next_prefix("a9") == "aa"
    assert repository.next_prefix("zz") is None


# Against both databases.


def test_phone_written_differently_matches_the_stored_number(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        existing = builders.customer(session, "王五", phone="+86 13800138000")
        matches = check(session, person("王小五", phone="138-0013-8000"))
    assert [(m.customer_id, m.key, m.score) for m in matches] == [
        (existing.id, MatchKey.phone, 100.0)
    ]


def test_credit_code_and_email_match_whatever_their_case(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        firm_row = builders.company(session, "甲公司", credit_code="91310000MA1FL0AB1X")
        mail = builders.customer(session, "李四", email="li.si@example.com")
        by_code = check(session, firm("乙公司", credit_code="91310000 ma1fl0ab1x"))
        by_mail = check(session, person("李四四", email="LI.SI@Example.com"))
    assert [(m.customer_id, m.key) for m in by_code] == [(firm_row.id, MatchKey.credit_code)]
    assert [(m.customer_id, m.key) for m in by_mail] == [(mail.id, MatchKey.email)]


def test_company_names_match_exactly_by_key_and_fuzzily_above_the_threshold(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        shanghai = builders.company(session, "abc科技(上海)有限公司")
        exact = check(session, firm("ＡＢＣ科技（上海）有限公司"))
        near = check(session, firm("ABC科技有限公司"))
        strict = check(session, firm("ABC科技有限公司"), policy=DedupePolicy(threshold=95))
        other = check(session, firm("XYZ贸易有限公司"))
    assert [(m.customer_id, m.key, m.score) for m in exact] == [
        (shanghai.id, MatchKey.company, 100.0)
    ]
    assert [(m.customer_id, round(m.score)) for m in near] == [(shanghai.id, 90)]
    assert strict == [] and other == []


def test_a_persons_employer_is_not_a_company_match(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        builders.customer(session, "赵六", company="ABC科技有限公司")
        assert check(session, firm("ABC科技有限公司")) == []


def test_name_and_city_match_fuzzily_only_in_the_same_city(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        john = builders.customer(session, "John Smith", city="上海")
        builders.customer(session, "John Smith", city="北京", external_id="BJ")
        same_city = check(session, person("Jon  Smith", city="上海"))
        no_city = check(session, person("John Smith"))
    assert [(m.customer_id, m.key) for m in same_city] == [(john.id, MatchKey.name_city)]
    assert 90 <= same_city[0].score < 100
    assert no_city == []


def test_each_customer_is_reported_once_under_the_first_key_of_the_policy(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        both = builders.customer(session, "王五", phone="13800138000", email="w@example.com")
        candidate = person("王五", phone="13800138000", email="w@example.com")
        default = check(session, candidate)
        email_first = check(
            session, candidate, policy=DedupePolicy(keys=(MatchKey.email, MatchKey.phone))
        )
    assert [(m.customer_id, m.key) for m in default] == [(both.id, MatchKey.phone)]
    assert [(m.customer_id, m.key) for m in email_first] == [(both.id, MatchKey.email)]


def test_matches_say_who_holds_the_customer(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        me = builders.user(session, "me")
        colleague = builders.user(session, "wang", display_name="王经理")
        mine = builders.customer(session, "甲", phone="13800138001", owner_id=me.id)
        theirs = builders.customer(session, "乙", phone="13800138002", owner_id=colleague.id)
        pooled = builders.customer(session, "丙", phone="13800138003")
        found = {
            m.customer_id: m
            for phone in ("13800138001", "13800138002", "13800138003")
            for m in check(session, person("丁", phone=phone), acting_user_id=me.id)
        }
    assert found[mine.id].ownership is Ownership.mine
    assert (found[theirs.id].ownership, found[theirs.id].owner_name) == (Ownership.other, "王经理")
    assert (found[pooled.id].ownership, found[pooled.id].owner_id) == (Ownership.pool, None)


def test_deleted_merged_and_excluded_customers_never_match(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        live = builders.customer(session, "甲", phone="13800138000")
        builders.customer(session, "乙", phone="13800138000", deleted_at=datetime(2024, 1, 1))
        builders.customer(session, "丙", phone="13800138000", merged_into_id=live.id)
        candidate = person("丁", phone="13800138000")
        assert [m.customer_id for m in check(session, candidate)] == [live.id]
        assert check(session, candidate, exclude_id=live.id) == []


def test_fuzzy_candidates_are_narrowed_by_the_database(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        near = builders.customer(session, "张三", city="上海")
        builders.customer(session, "李四", city="上海")
        builders.customer(session, "张三", city="北京")
        fetched = repository.person_candidates(session, ["上海"], ["zs"])
    assert [row.id for row in fetched] == [near.id]


def test_batch_finds_existing_customers_and_repeats_within_the_batch(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        existing = builders.customer(session, "王五", phone="+86 13800138000")
        rows = [
            person("王五", phone="138-0013-8000"),
            firm("ABC科技(上海)有限公司"),
            person("赵六", email="zl@example.com"),
            firm("ABC科技有限公司"),
            person("赵小六", email="ZL@example.com"),
        ]
        found = find_duplicates_batch(session=session, candidates=rows, policy=POLICY)
    assert [m.customer_id for m in found[0].existing] == [existing.id]
    assert [(r.earlier_row, r.key) for r in found[3].within] == [(1, MatchKey.company)]
    assert [(r.earlier_row, r.key, r.score) for r in found[4].within] == [
        (2, MatchKey.email, 100.0)
    ]
    assert all(not f.within for f in found[:3])
    assert all(not f.existing for f in found[1:])


def test_a_large_batch_narrows_by_many_prefixes_at_once(sessions: sessionmaker[Session]) -> None:
    names = ["张三", "李四", "王五", "赵六", "钱七", "孙八", "周九", "吴十", "郑一", "冯二"]
    assert len(names) > repository.RANGES
    with sessions() as session:
        existing = [builders.customer(session, name, city="上海") for name in names]
        builders.customer(session, "张三", city="北京")
        rows = [person(name, city="上海") for name in names]
        found = find_duplicates_batch(session=session, candidates=rows, policy=POLICY)
    assert [[(m.customer_id, m.key) for m in f.existing] for f in found] == [
        [(customer.id, MatchKey.name_city)] for customer in existing
    ]
