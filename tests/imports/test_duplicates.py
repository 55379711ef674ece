from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.auth.models import Role, User
from patron.config import Settings
from patron.customers.models import Customer
from patron.customers.schemas import Action
from patron.errors import InvalidInput
from patron.imports.duplicates import REPORT_COLUMNS, import_action
from patron.imports.service import ImportResult, import_file
from tests.imports.files import read_rejects, write_csv

HEADER = ["customer_id", "name", "phone", "email", "city", "owner"]
SETTINGS = Settings(import_batch_size=50)


def run(engine: Engine, path: Path, **options: Any) -> ImportResult:
    return import_file(engine=engine, kind="customers", path=path, settings=SETTINGS, **options)


def read_report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def rejects_of(result: ImportResult) -> list[dict[str, str]]:
    assert result.rejects is not None, "rows were rejected, so there is a rejects file"
    return read_rejects(result.rejects)


def customer_ids(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return sorted(session.scalars(select(Customer.external_id)))


@pytest.fixture
def stored(db: Engine, sessions: sessionmaker[Session], tmp_path: Path) -> Engine:
    """Two stored customers: K1 owned by wang, K2 in the public pool."""
    with sessions.begin() as session:
        session.add(User(username="wang", role=Role.agent))
    rows = [
        ["K1", "王五", "+86 13800138000", "", "上海", "wang"],
        ["K2", "赵六", "", "zhao@example.com", "北京", ""],
    ]
    assert run(db, write_csv(tmp_path / "first.csv", HEADER, rows)).counts.inserted == 2
    return db


def test_block_refuses_a_customer_entered_again(
    stored: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    rows = [
        ["N1", "王小五", "138-0013-8000", "", "", ""],
        ["N2", "赵六六", "", "ZHAO@example.com", "", ""],
        ["N3", "孙七", "139-0013-9000", "", "", ""],
    ]
    path = write_csv(tmp_path / "again.csv", HEADER, rows)
    result = run(stored, path, dedupe=Action.block)
    assert result.counts.as_dict() == {"inserted": 1, "updated": 0, "unchanged": 0, "rejected": 2}
    reasons = {r["row_number"]: (r["column"], r["reason"]) for r in rejects_of(result)}
    assert reasons["2"] == (
        "phone",
        "this looks like existing customer 'K1': the same phone, owned by wang",
    )
    assert reasons["3"] == (
        "email",
        "this looks like existing customer 'K2': the same email, in the public pool",
    )
    assert customer_ids(sessions) == ["K1", "K2", "N3"]


def test_warn_imports_and_reports_the_match(
    stored: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    rows = [["N1", "王小五", "138-0013-8000", "", "", ""]]
    report = tmp_path / "dups.csv"
    path = write_csv(tmp_path / "again.csv", HEADER, rows)
    result = run(stored, path, dedupe=Action.warn, duplicates_path=report)
    assert result.counts.as_dict() == {"inserted": 1, "updated": 0, "unchanged": 0, "rejected": 0}
    assert result.rejects is None and result.duplicate_count == 1
    lines = read_report(report)
    assert list(lines[0]) == REPORT_COLUMNS
    assert lines == [
        {
            "row_number": "2",
            "customer_id": "N1",
            "matched_customer_id": "K1",
            "matched_row": "",
            "key": "phone",
            "score": "100.0",
            "holder": "other",
            "holder_name": "wang",
        }
    ]
    assert customer_ids(sessions) == ["K1", "K2", "N1"]


def test_existing_ids_are_updates_not_duplicates(stored: Engine, tmp_path: Path) -> None:
    rows = [["K1", "王五五", "+86 13800138000", "", "上海", "wang"]]
    result = run(stored, write_csv(tmp_path / "update.csv", HEADER, rows), dedupe=Action.block)
    assert result.counts.as_dict() == {"inserted": 0, "updated": 1, "unchanged": 0, "rejected": 0}
    assert result.duplicates is None


def test_duplicates_within_the_file(
    db: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    rows = [
        ["A1", "张三", "13800138000", "", "", ""],
        ["A2", "张三丰", "+86 138 0013 8000", "", "", ""],
        ["A3", "李四", "", "li@example.com", "", ""],
        ["A4", "李四", "", "LI@example.com", "", ""],
    ]
    path = write_csv(tmp_path / "file.csv", HEADER, rows)
    blocked = run(db, path, dedupe=Action.block, dry_run=True)
    assert blocked.counts.as_dict() == {"inserted": 2, "updated": 0, "unchanged": 0, "rejected": 2}
    reasons = {r["row_number"]: r["reason"] for r in rejects_of(blocked)}
    assert reasons == {
        "3": "this looks like row 2 of the file ('A1'): the same phone, in the public pool",
        "5": "this looks like row 4 of the file ('A3'): the same email, in the public pool",
    }
    report = tmp_path / "dups.csv"
    warned = run(db, path, dedupe=Action.warn, duplicates_path=report)
    assert warned.counts.inserted == 4
    found = [
        (r["row_number"], r["matched_customer_id"], r["matched_row"], r["key"])
        for r in read_report(report)
    ]
    assert found == [("3", "A1", "2", "phone"), ("5", "A3", "4", "email")]
    assert customer_ids(sessions) == ["A1", "A2", "A3", "A4"]


def test_rows_in_later_batches_meet_earlier_ones(
    db: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    rows = [[f"B{n:03d}", f"客户{n}", f"1380013{n:04d}", "", "", ""] for n in range(60)]
    rows.append(["B999", "重复", "1380013-0001", "", "", ""])
    result = run(db, write_csv(tmp_path / "long.csv", HEADER, rows), dedupe=Action.block)
    assert result.counts.as_dict() == {"inserted": 60, "updated": 0, "unchanged": 0, "rejected": 1}
    [reject] = rejects_of(result)
    assert reject["row_number"] == "62" and "'B001'" in reject["reason"]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 60


def test_a_fuzzy_name_match_only_warns(stored: Engine, tmp_path: Path) -> None:
    header = ["customer_id", "name", "city"]
    rows = [["P1", "Jon Smith", "上海"]]
    seed = write_csv(tmp_path / "seed.csv", header, [["P0", "John Smith", "上海"]])
    assert run(stored, seed).counts.inserted == 1
    result = run(stored, write_csv(tmp_path / "p.csv", header, rows), dedupe=Action.block)
    assert result.counts.inserted == 1 and result.duplicates is not None
    [line] = read_report(result.duplicates)
    assert line["key"] == "name_city" and line["matched_customer_id"] == "P0"


def test_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PATRON_DEDUPE_IMPORT", raising=False)
    assert import_action() is Action.block
    monkeypatch.setenv("PATRON_DEDUPE_IMPORT", "Warn")
    assert import_action() is Action.warn
    monkeypatch.setenv("PATRON_DEDUPE_IMPORT", "merge")
    with pytest.raises(InvalidInput, match="must be 'block' or 'warn'"):
        import_action()


def test_companies_with_different_credit_codes_are_only_reported(
    db: Engine, tmp_path: Path
) -> None:
    header = ["customer_id", "name", "kind", "credit_code"]
    rows = [
        ["Q1", "快讯网络有限公司", "company", "91440500362549391X"],
        ["Q2", "快讯网络有限公司", "company", "911201003655747603"],
        ["Q3", "快讯网络有限公司", "company", ""],
    ]
    path = write_csv(tmp_path / "companies.csv", header, rows)
    result = run(db, path, dedupe=Action.block)
    assert result.counts.as_dict() == {"inserted": 2, "updated": 0, "unchanged": 0, "rejected": 1}
    [reject] = rejects_of(result)
    assert reject["row_number"] == "4" and reject["column"] == "name"
    assert "row 2 of the file ('Q1'): the same company name" in reject["reason"]
    assert result.duplicates is not None
    assert [r["row_number"] for r in read_report(result.duplicates)] == ["3"]
