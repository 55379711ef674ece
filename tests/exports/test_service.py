from __future__ import annotations

import csv
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from patron.analytics.models import ScoreSnapshot, ScoringRun
from patron.errors import InvalidInput, NotFound
from patron.exports.service import export_file
from patron.imports.service import import_file
from tests.imports.files import ORDER_HEADER, write_csv

CUSTOMERS = [["C1", "张三", "杭州", "vip;茶友"], ["C2", "Li Lei", "", ""]]


def _load(engine: Engine, tmp_path: Path) -> None:
    header = ["customer_id", "name", "city", "tags"]
    import_file(
        engine=engine, kind="customers", path=write_csv(tmp_path / "c.csv", header, CUSTOMERS)
    )
    rows = [
        ["O1", "C1", "2024-01-05 10:30", "1234.50", "paid", "web"],
        ["O2", "C2", "2024-02-01", "8", "refunded", "门店"],
    ]
    import_file(
        engine=engine, kind="orders", path=write_csv(tmp_path / "o.csv", ORDER_HEADER, rows)
    )


def _read_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "CSV exports start with a UTF-8 BOM for Excel"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def test_orders_to_csv_with_chinese_headers_import_again(db: Engine, tmp_path: Path) -> None:
    _load(db, tmp_path)
    out = tmp_path / "out" / "orders.csv"
    assert export_file(engine=db, kind="orders", path=out, locale="zh_CN") == 2
    rows = _read_csv(out)
    assert rows[0][:4] == ["订单号", "客户编号", "下单时间", "金额"]
    assert rows[1][:6] == ["O1", "C1", "2024-01-05 10:30:00", "1234.50", "paid", "web"]
    assert rows[2][5] == "门店"
    again = import_file(engine=db, kind="orders", path=out)
    assert again.counts.as_dict() == {"inserted": 0, "updated": 0, "unchanged": 2, "rejected": 0}
    assert not list(out.parent.glob(".*.part")), "no temporary file is left behind"


def test_customers_to_xlsx_in_english(db: Engine, tmp_path: Path) -> None:
    _load(db, tmp_path)
    out = tmp_path / "customers.xlsx"
    assert export_file(engine=db, kind="customers", path=out, locale="en") == 2
    sheet = load_workbook(out, read_only=True).worksheets[0]
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    header = rows[0]
    # Write-only sheets leave out trailing empty cells.
    first = dict(zip(header, [*rows[1], *[None] * len(header)], strict=False))
    assert header[:3] == ["customer_id", "name", "kind"]
    assert first["name"] == "张三" and first["city"] == "杭州" and first["tags"] == "vip;茶友"
    assert isinstance(first["created_at"], datetime)


def test_scores_need_a_finished_run(db: Engine, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="run `patron score` first"):
        export_file(engine=db, kind="scores", path=tmp_path / "s.csv", locale="en")
    assert not (tmp_path / "s.csv").exists()


def test_scores_come_from_the_latest_finished_run(
    db: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _load(db, tmp_path)
    features = {
        "recency_days": 12,
        "frequency": 3,
        "tenure_days": 400,
        "monetary_total": 900.5,
        "monetary_avg": 300.17,
        "r_score": 5,
        "f_score": 4,
        "m_score": 3,
        "expected_purchases": 1.7,
        "expected_avg_value": 280.0,
    }
    with sessions.begin() as session:
        old = ScoringRun(
            as_of=datetime(2024, 1, 1),
            horizon_days=90,
            status="finished",
            finished_at=datetime(2024, 1, 1, 1),
        )
        new = ScoringRun(
            as_of=datetime(2024, 3, 1),
            horizon_days=90,
            status="finished",
            finished_at=datetime(2024, 3, 1, 1),
        )
        running = ScoringRun(as_of=datetime(2024, 4, 1), horizon_days=90)
        session.add_all([old, new, running])
        session.flush()
        for run, grade in ((old, "C"), (new, "A"), (running, "B")):
            session.add(
                ScoreSnapshot(
                    run_id=run.id,
                    customer_id=1,
                    grade=grade,
                    stage="active",
                    rfm_segment="champions",
                    value_class="important_value",
                    clv=1234.5,
                    p_alive=0.9,
                    churn_risk=0.12,
                    warnings="silence_rising;nps_detractor",
                    features=features,
                )
            )
    out = tmp_path / "scores.csv"
    assert export_file(engine=db, kind="scores", path=out, locale="en") == 1
    header, row = _read_csv(out)
    assert header == [
        "customer_id",
        "recency_days",
        "frequency",
        "tenure_days",
        "monetary_total",
        "monetary_avg",
        "r_score",
        "f_score",
        "m_score",
        "rfm_segment",
        "value_class",
        "grade",
        "stage",
        "p_alive",
        "expected_purchases",
        "expected_avg_value",
        "clv",
        "churn_risk",
        "warnings",
    ]
    record = dict(zip(header, row, strict=True))
    assert record["customer_id"] == "C1" and record["grade"] == "A"
    assert record["frequency"] == "3" and record["expected_purchases"] == "1.7"
    assert float(record["churn_risk"]) == pytest.approx(0.12)
    assert record["warnings"] == "silence_rising;nps_detractor"
    assert Decimal(record["clv"]) == Decimal("1234.5")


def test_unknown_kinds_and_formats_are_refused(db: Engine, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not an export kind"):
        export_file(engine=db, kind="secrets", path=tmp_path / "x.csv", locale="en")
    with pytest.raises(InvalidInput, match=r"\.csv or \.xlsx"):
        export_file(engine=db, kind="orders", path=tmp_path / "x.json", locale="en")
