from __future__ import annotations

import json
import subprocess
import sys

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.customers.models import Customer
from patron.orders.models import Order
from tests import builders


def patron(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "patron", *args], capture_output=True, text=True, check=False
    )


def test_check_duplicates_of_a_described_customer(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        me = builders.user(session, "me")
        builders.customer(
            session, "王五", external_id="C-1", phone="+86 13800138000", owner_id=me.id
        )
        session.commit()
    done = patron(
        "--db",
        db_url,
        "customer",
        "check-duplicates",
        "--name",
        "王小五",
        "--phone",
        "138-0013-8000",
        "--as",
        "me",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    [match] = json.loads(done.stdout)["matches"]
    assert (match["external_id"], match["key"], match["ownership"]) == ("C-1", "phone", "mine")
    human = patron(
        "--db",
        db_url,
        "customer",
        "check-duplicates",
        "--name",
        "王小五",
        "--phone",
        "138-0013-8000",
    )
    assert human.stdout.strip() == (
        "customer '王五' (C-1) has the same phone, owned by me [score 100]"
    )


def test_check_duplicates_of_an_existing_customer(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        builders.company(session, "ABC科技(上海)有限公司", external_id="A")
        builders.company(session, "ABC科技有限公司", external_id="B")
        builders.company(session, "XYZ贸易", external_id="X")
        session.commit()
    near = patron("--db", db_url, "customer", "check-duplicates", "B", "--json")
    strict = patron("--db", db_url, "customer", "check-duplicates", "B", "--threshold", "95")
    alone = patron("--db", db_url, "customer", "check-duplicates", "X")
    assert [m["external_id"] for m in json.loads(near.stdout)["matches"]] == ["A"]
    assert strict.stdout.strip() == alone.stdout.strip() == "no duplicates found"


def test_check_duplicates_explains_bad_input_in_one_line(db_url: str) -> None:
    both = patron("--db", db_url, "customer", "check-duplicates", "C-1", "--name", "x")
    bad_phone = patron(
        "--db", db_url, "customer", "check-duplicates", "--name", "x", "--phone", "12345"
    )
    missing = patron("--db", db_url, "customer", "check-duplicates", "NOPE")
    assert both.returncode != 0 and bad_phone.returncode != 0 and missing.returncode != 0
    assert both.stderr.strip() == (
        "error: give either an existing customer id or --name (and other keys)"
    )
    assert bad_phone.stderr.strip() == (
        "error: phone: '12345' is not a valid phone number for region CN"
    )
    assert missing.stderr.strip() == "error: no customer 'NOPE'"


def test_merge_by_external_ids(db_url: str, sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        builders.user(session, "boss")
        source = builders.customer(session, "王五", external_id="S", phone="13800138000")
        builders.customer(session, "王五", external_id="K")
        builders.order(session, source)
        session.commit()
    done = patron("--db", db_url, "customer", "merge", "S", "K", "--by", "boss", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["moved"]["orders"], result["filled"]) == (1, ["phone"])
    with sessions() as session:
        kept = session.scalars(select(Customer).where(Customer.external_id == "K")).one()
        assert session.scalars(select(Order.customer_id)).all() == [kept.id]
    again = patron("--db", db_url, "customer", "merge", "S", "K")
    assert again.returncode != 0
    assert again.stderr.strip() == "error: customer 'S' was merged into 'K'"
