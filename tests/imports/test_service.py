from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from patron.auth.models import Role, User
from patron.config import Settings
from patron.customers.models import Customer, CustomerTag
from patron.engagement.models import Interaction
from patron.errors import FileUnreadable, InvalidInput
from patron.imports.service import import_file
from patron.orders.models import Order, OrderStatus, Product
from patron.service.models import SurveyResponse, Ticket
from tests.imports.files import ORDER_HEADER, orders, read_rejects, write_csv, write_xlsx

SMALL_BATCHES = Settings(import_batch_size=7)


def counts(engine: Engine, kind: str, path: Path, **options: object) -> dict[str, int]:
    result = import_file(engine=engine, kind=kind, path=path, settings=SMALL_BATCHES, **options)  # type: ignore[arg-type]
    return result.counts.as_dict()


def order_count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Order)) or 0


def test_importing_the_same_file_twice_changes_nothing(db: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, orders(30))
    assert counts(db, "orders", path) == {
        "inserted": 30,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
    }
    assert counts(db, "orders", path) == {
        "inserted": 0,
        "updated": 0,
        "unchanged": 30,
        "rejected": 0,
    }


def test_a_changed_row_updates_its_order(
    db: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    rows = orders(10)
    counts(db, "orders", write_csv(tmp_path / "a.csv", ORDER_HEADER, rows))
    rows[3][3] = "999.90"
    rows[3][4] = "refunded"
    again = counts(db, "orders", write_csv(tmp_path / "b.csv", ORDER_HEADER, rows))
    assert again == {"inserted": 0, "updated": 1, "unchanged": 9, "rejected": 0}
    with sessions() as session:
        order = session.scalars(select(Order).where(Order.external_id == rows[3][0])).one()
    assert order.amount == Decimal("999.90") and order.status is OrderStatus.refunded
    assert order_count(sessions) == 10


def test_rows_without_order_id_get_stable_ids(
    db: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    header = ["customer_id", "ordered_at", "amount"]
    rows = [["C1", "2024-01-02", "10"], ["C1", "2024-01-02", "10"], ["C2", "2024-01-03", "5"]]
    path = write_csv(tmp_path / "o.csv", header, rows)
    assert counts(db, "orders", path)["inserted"] == 3
    assert counts(db, "orders", path) == {
        "inserted": 0,
        "updated": 0,
        "unchanged": 3,
        "rejected": 0,
    }
    assert order_count(sessions) == 3
    with sessions() as session:
        names = set(session.scalars(select(Customer.name)))
    assert names == {"C1", "C2"}


def test_a_gbk_file_with_chinese_headers_and_bad_rows(
    db: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    header = ["订单号", "客户编号", "下单时间", "金额", "状态", "商品编号", "商品名称", "备注"]
    rows = [
        ["D1", "K1", "2024-01-05", "￥1,234.50", "已支付", "P1", "龙井茶", "老客户"],
        ["D2", "K1", "20240106", "￥66.60", "已退款", "P1", "龙井茶", ""],
        ["D3", "K2", "2024/1/7 9:30", "$12", "paid", "", "", ""],
        ["D4", "K2", "2024/2/30", "10", "paid", "", "", ""],
        ["D5", "K3", "2024-01-08", "十元", "paid", "", "", ""],
        ["D6", "", "2024-01-08", "10", "paid", "", "", ""],
        ["D7", "K3", "2024-01-09 08:00:00", "8", "lost", "", "", ""],
        ["D1", "K9", "2024-01-09", "1", "paid", "", "", ""],
    ]
    path = write_csv(tmp_path / "订单.csv", header, rows, encoding="gbk")
    rejects = tmp_path / "rejects.csv"
    result = counts(db, "orders", path, rejects_path=rejects)
    assert result == {"inserted": 3, "updated": 0, "unchanged": 0, "rejected": 5}
    refused = read_rejects(rejects)
    assert [(r["row_number"], r["column"]) for r in refused] == [
        ("5", "下单时间"),
        ("6", "金额"),
        ("7", "客户编号"),
        ("8", "状态"),
        ("9", "订单号"),
    ]
    assert "not a real date" in refused[0]["reason"] and refused[0]["订单号"] == "D4"
    assert refused[1]["金额"] == "十元"
    with sessions() as session:
        stored = {o.external_id: o for o in session.scalars(select(Order))}
        product = session.scalars(select(Product)).one()
    assert stored["D1"].amount == Decimal("1234.50") and stored["D1"].currency == "CNY"
    assert stored["D1"].custom_fields == {"备注": "老客户"}
    assert stored["D2"].status is OrderStatus.refunded
    assert stored["D3"].ordered_at == datetime(2024, 1, 7, 9, 30) and stored["D3"].currency == "USD"
    assert (product.external_id, product.name) == ("P1", "龙井茶")
    assert stored["D1"].product_id == product.id


def test_xlsx_with_real_date_cells(
    db: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    rows = [
        ["X1", "C1", datetime(2024, 5, 1, 13, 45), 88.8],
        ["X2", "C1", datetime(2024, 5, 2), "1,000"],
        ["X3", "C2", "not a date", 3],
    ]
    path = write_xlsx(
        tmp_path / "orders.xlsx", ["Order ID", "Customer ID", "Ordered At", "Amount"], rows
    )
    assert counts(db, "orders", path)["inserted"] == 2
    with sessions() as session:
        first = session.scalars(select(Order).where(Order.external_id == "X1")).one()
        second = session.scalars(select(Order).where(Order.external_id == "X2")).one()
    assert first.ordered_at == datetime(2024, 5, 1, 13, 45) and first.amount == Decimal("88.80")
    assert second.amount == Decimal("1000.00")
    rejected = read_rejects(tmp_path / "orders.rejects.csv")
    assert rejected[0]["row_number"] == "4" and rejected[0]["column"] == "Ordered At"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("customer_id,amount\nC1,10\n", r"no ordered_at \(下单时间\) column"),
        ("", "is empty"),
        ("customer_id,ordered_at,amount\n", "no data rows"),
    ],
)
def test_unreadable_files_fail_before_writing(
    db: Engine, sessions: sessionmaker[Session], tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(FileUnreadable, match=message):
        counts(db, "orders", path)
    assert order_count(sessions) == 0


def test_binary_and_old_excel_files_are_refused(db: Engine, tmp_path: Path) -> None:
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0" + bytes(range(256)) * 4)
    with pytest.raises(FileUnreadable, match="old Excel"):
        counts(db, "orders", old)
    binary = tmp_path / "image.csv"
    binary.write_bytes(b"\x89PNG\x00\x00\xff\xfe" + bytes(range(256)) * 8)
    with pytest.raises(FileUnreadable, match="neither a CSV nor an XLSX"):
        counts(db, "orders", binary)


def test_dry_run_counts_and_writes_nothing(
    db: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    rows = [*orders(12), ["O9", "C1", "bad", "1", "paid", "web"]]
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows)
    assert counts(db, "orders", path, dry_run=True) == {
        "inserted": 12,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
    }
    assert order_count(sessions) == 0
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 0


def test_customers_with_owner_tags_and_normalised_contacts(
    db: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions.begin() as session:
        session.add(User(username="li.lei", role=Role.agent))
    header = [
        "客户编号",
        "客户名称",
        "手机",
        "邮箱",
        "性别",
        "生日",
        "农历生日",
        "城市",
        "负责人",
        "标签",
        "会员等级",
    ]
    rows = [
        [
            "K1",
            "张三",
            "138 0013 8000",
            " Zhang@Example.COM ",
            "男",
            "1990/5/6",
            "腊月初八",
            "杭州",
            "li.lei",
            "vip;茶友",
            "金卡",
        ],
        ["K2", "李四", "12345", "", "", "", "", "", "", "", ""],
        ["K3", "王五", "", "", "", "", "", "", "nobody", "", ""],
    ]
    path = write_csv(tmp_path / "customers.csv", header, rows)
    assert counts(db, "customers", path) == {
        "inserted": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": 2,
    }
    reasons = {
        r["row_number"]: r["reason"] for r in read_rejects(tmp_path / "customers.rejects.csv")
    }
    assert (
        "not a valid phone number" in reasons["3"] and "no user is named 'nobody'" in reasons["4"]
    )
    with sessions() as session:
        customer = session.scalars(select(Customer)).one()
        tags = set(session.scalars(select(CustomerTag.tag)))
        owner = session.scalars(select(User)).one()
    assert customer.phone == "+8613800138000" and customer.email == "zhang@example.com"
    assert customer.name_initials == "zs" and customer.gender == "male"
    assert customer.lunar_birthday == "12-08" and customer.owner_id == owner.id
    assert customer.custom_fields == {"会员等级": "金卡"} and tags == {"vip", "茶友"}
    rows[0][9] = "vip"
    assert counts(db, "customers", write_csv(tmp_path / "c2.csv", header, rows[:1]))["updated"] == 1
    with sessions() as session:
        assert set(session.scalars(select(CustomerTag.tag))) == {"vip"}


def test_interactions_tickets_and_responses(
    db: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    counts(db, "customers", write_csv(tmp_path / "c.csv", ["customer_id", "name"], [["C1", "Ann"]]))
    interactions = write_csv(
        tmp_path / "i.csv",
        ["客户编号", "时间", "方式", "方向", "摘要", "是否跟进"],
        [
            ["C1", "2024-01-01 10:00", "电话", "呼入", "asked about tea", "是"],
            ["C404", "2024-01-01", "call", "", "", ""],
        ],
    )
    assert counts(db, "interactions", interactions)["inserted"] == 1
    tickets = write_csv(
        tmp_path / "t.csv",
        ["工单号", "客户编号", "创建时间", "工单类型", "优先级", "主题"],
        [["T1", "C1", "2024-01-02", "投诉", "紧急", "late delivery"]],
    )
    assert counts(db, "tickets", tickets)["inserted"] == 1
    responses = write_csv(
        tmp_path / "r.csv",
        ["customer_id", "answered_at", "kind", "score", "ticket_id"],
        [
            ["C1", "2024-01-03", "nps", "9", "T1"],
            ["C1", "2024-01-03", "csat", "7", ""],
            ["C1", "2024-01-04", "nps", "3", "T9"],
        ],
    )
    assert counts(db, "responses", responses) == {
        "inserted": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": 2,
    }
    reasons = [r["reason"] for r in read_rejects(tmp_path / "r.rejects.csv")]
    assert reasons == ["7 is outside 1-5 for CSAT", "no ticket has id 'T9'"]
    with sessions() as session:
        interaction = session.scalars(select(Interaction)).one()
        ticket = session.scalars(select(Ticket)).one()
        response = session.scalars(select(SurveyResponse)).one()
    assert interaction.direction == "inbound" and interaction.is_follow_up
    assert ticket.kind == "complaint" and ticket.priority == "urgent"
    assert response.ticket_id == ticket.id and response.score == 9


def test_an_import_cache_below_two_mib_is_refused_before_writing(
    db: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, orders(5))
    with pytest.raises(InvalidInput, match="PATRON_IMPORT_CACHE_MIB"):
        import_file(engine=db, kind="orders", path=path, settings=Settings(import_cache_mib=1))
    assert order_count(sessions) == 0
    # The smallest cache allowed imports all the same.
    small = Settings(import_batch_size=2, import_cache_mib=2)
    assert import_file(engine=db, kind="orders", path=path, settings=small).counts.inserted == 5
    assert order_count(sessions) == 5
