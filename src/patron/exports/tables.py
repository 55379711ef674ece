"""What each export holds: its columns (English and Chinese headers) and its rows, streamed.

English headers are the import field names and Chinese headers the import aliases, so an
exported customers or orders file imports again as it is. Each table streams only the rows
its `Audience` may see, personal data masked as the audience requires.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, select
from sqlalchemy.orm import aliased

from patron.analytics.models import ScoreSnapshot, ScoringRun
from patron.auth.models import User
from patron.customers.models import Customer, CustomerScore, CustomerTag
from patron.engagement.models import Task
from patron.errors import NotFound
from patron.exports.audience import Audience, mask_row, only
from patron.orders.models import Order, Product
from patron.service.models import Ticket

STREAM_ROWS = 5_000


@dataclass(frozen=True)
class Column:
    """One exported column."""

    key: str
    en: str
    zh: str


@dataclass(frozen=True)
class Table:
    """One export kind: its columns and a function streaming its rows."""

    columns: tuple[Column, ...]
    rows: Callable[[Connection, Audience], Iterator[list[Any]]]

    def headers(self, locale: str) -> list[str]:
        """The header row in the given locale."""
        return [column.zh if locale == "zh_CN" else column.en for column in self.columns]


def _columns(*specs: tuple[str, str]) -> tuple[Column, ...]:
    return tuple(Column(key=en, en=en, zh=zh) for en, zh in specs)


def _stream(conn: Connection, query: Select[*tuple[Any, ...]]) -> Iterator[list[Any]]:
    result = conn.execution_options(yield_per=STREAM_ROWS).execute(query)
    for partition in result.partitions():
        for row in partition:
            yield list(row)


def _tags_of(conn: Connection, ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    query = (
        select(CustomerTag.customer_id, CustomerTag.tag)
        .where(CustomerTag.customer_id.in_(ids))
        .order_by(CustomerTag.customer_id, CustomerTag.tag)
    )
    for customer_id, tag in conn.execute(query):
        found.setdefault(customer_id, []).append(tag)
    return found


CUSTOMER_COLUMNS = _columns(
    ("customer_id", "客户编号"),
    ("name", "客户名称"),
    ("kind", "客户类型"),
    ("phone", "手机"),
    ("email", "邮箱"),
    ("gender", "性别"),
    ("birthday", "生日"),
    ("lunar_birthday", "农历生日"),
    ("province", "省份"),
    ("city", "城市"),
    ("address", "地址"),
    ("industry", "行业"),
    ("company", "公司"),
    ("credit_code", "统一社会信用代码"),
    ("source", "来源"),
    ("owner", "负责人"),
    ("tags", "标签"),
    ("created_at", "创建时间"),
    ("grade", "客户等级"),
    ("stage", "生命周期阶段"),
    ("clv", "客户终身价值"),
    ("churn_risk", "流失风险"),
)


def customer_rows(conn: Connection, audience: Audience) -> Iterator[list[Any]]:
    """Every live customer the audience sees, with owner's username and `;`-joined tags."""
    owner = aliased(User)
    c, s = Customer, CustomerScore
    query = (
        select(
            c.id,
            c.external_id,
            c.name,
            c.kind,
            c.phone,
            c.email,
            c.gender,
            c.birthday,
            c.lunar_birthday,
            c.province,
            c.city,
            c.address,
            c.industry,
            c.company,
            c.credit_code,
            c.source,
            owner.username,
            c.created_at,
            s.grade,
            s.stage,
            s.clv,
            s.churn_risk,
            c.owner_id,
        )
        .outerjoin(owner, owner.id == c.owner_id)
        .outerjoin(s, s.customer_id == c.id)
        .where(c.deleted_at.is_(None), *only(audience.customers))
        .order_by(c.id)
    )
    keys = [column.key for column in CUSTOMER_COLUMNS]
    result = conn.execution_options(yield_per=STREAM_ROWS).execute(query)
    for partition in result.partitions():
        tags = _tags_of(conn, [row[0] for row in partition])
        for row in partition:
            values = list(row)
            exported = [*values[1:17], ";".join(tags.get(values[0], [])), *values[17:22]]
            yield mask_row(exported, keys) if audience.hides(values[22]) else exported


ORDER_COLUMNS = _columns(
    ("order_id", "订单号"),
    ("customer_id", "客户编号"),
    ("ordered_at", "下单时间"),
    ("amount", "金额"),
    ("status", "状态"),
    ("channel", "渠道"),
    ("quantity", "数量"),
    ("product_id", "商品编号"),
    ("product_name", "商品名称"),
    ("currency", "币种"),
)


def order_rows(conn: Connection, audience: Audience) -> Iterator[list[Any]]:
    """Every order of a customer the audience sees, with customer and product external ids."""
    query = (
        select(
            Order.external_id,
            Customer.external_id,
            Order.ordered_at,
            Order.amount,
            Order.status,
            Order.channel,
            Order.quantity,
            Product.external_id,
            Product.name,
            Order.currency,
        )
        .join(Customer, Customer.id == Order.customer_id)
        .outerjoin(Product, Product.id == Order.product_id)
        .where(*only(audience.customers))
        .order_by(Order.id)
    )
    return _stream(conn, query)


TASK_COLUMNS = _columns(
    ("task_id", "任务编号"),
    ("customer_id", "客户编号"),
    ("customer_name", "客户名称"),
    ("assignee", "负责人"),
    ("kind", "任务类型"),
    ("title", "标题"),
    ("status", "状态"),
    ("due_at", "截止时间"),
    ("completed_at", "完成时间"),
    ("outcome", "结果"),
    ("source_rule", "来源规则"),
    ("created_at", "创建时间"),
)


def task_rows(conn: Connection, audience: Audience) -> Iterator[list[Any]]:
    """Every task the audience sees, with its customer and assignee."""
    assignee = aliased(User)
    query = (
        select(
            Task.id,
            Customer.external_id,
            Customer.name,
            assignee.username,
            Task.kind,
            Task.title,
            Task.status,
            Task.due_at,
            Task.completed_at,
            Task.outcome,
            Task.source_rule,
            Task.created_at,
        )
        .outerjoin(Customer, Customer.id == Task.customer_id)
        .outerjoin(assignee, assignee.id == Task.assignee_id)
        .where(*only(audience.tasks))
        .order_by(Task.id)
    )
    return _stream(conn, query)


TICKET_COLUMNS = _columns(
    ("ticket_id", "工单号"),
    ("customer_id", "客户编号"),
    ("opened_at", "创建时间"),
    ("kind", "工单类型"),
    ("priority", "优先级"),
    ("status", "状态"),
    ("subject", "主题"),
    ("channel", "渠道"),
    ("category", "分类"),
    ("assignee", "处理人"),
    ("first_response_at", "首次响应时间"),
    ("resolved_at", "解决时间"),
    ("closed_at", "关闭时间"),
)


def ticket_rows(conn: Connection, audience: Audience) -> Iterator[list[Any]]:
    """Every ticket the audience sees; tickets without an external id are named by number."""
    assignee = aliased(User)
    query = (
        select(
            Ticket.external_id,
            Ticket.id,
            Customer.external_id,
            Ticket.opened_at,
            Ticket.kind,
            Ticket.priority,
            Ticket.status,
            Ticket.subject,
            Ticket.channel,
            Ticket.category,
            assignee.username,
            Ticket.first_response_at,
            Ticket.resolved_at,
            Ticket.closed_at,
        )
        .join(Customer, Customer.id == Ticket.customer_id)
        .outerjoin(assignee, assignee.id == Ticket.assignee_id)
        .where(*only(audience.tickets))
        .order_by(Ticket.id)
    )
    for row in _stream(conn, query):
        yield [row[0] or f"T{row[1]}", *row[2:]]


SCORE_FEATURES = (
    "recency_days",
    "frequency",
    "tenure_days",
    "monetary_total",
    "monetary_avg",
    "r_score",
    "f_score",
    "m_score",
)
SCORE_COLUMNS = _columns(
    ("customer_id", "客户编号"),
    ("recency_days", "最近购买天数"),
    ("frequency", "复购次数"),
    ("tenure_days", "客户时长天数"),
    ("monetary_total", "累计金额"),
    ("monetary_avg", "平均金额"),
    ("r_score", "R分"),
    ("f_score", "F分"),
    ("m_score", "M分"),
    ("rfm_segment", "RFM分群"),
    ("value_class", "价值分类"),
    ("grade", "客户等级"),
    ("stage", "生命周期阶段"),
    ("p_alive", "活跃概率"),
    ("expected_purchases", "预期购买次数"),
    ("expected_avg_value", "预期平均金额"),
    ("clv", "客户终身价值"),
    ("churn_risk", "流失风险"),
    ("warnings", "预警"),
)


def latest_finished_run(conn: Connection) -> int:
    """The latest scoring run that finished, or a plain error saying to score first."""
    query = (
        select(ScoringRun.id)
        .where(ScoringRun.finished_at.is_not(None), ScoringRun.status.not_in(("running", "failed")))
        .order_by(ScoringRun.finished_at.desc(), ScoringRun.id.desc())
        .limit(1)
    )
    run = conn.execute(query).scalar_one_or_none()
    if run is None:
        raise NotFound("there are no scores yet: run `patron score` first")
    return int(run)


def score_rows(conn: Connection, audience: Audience) -> Iterator[list[Any]]:
    """One row per customer the audience sees, from the latest finished scoring run."""
    s = ScoreSnapshot
    query = (
        select(
            Customer.external_id,
            s.features,
            s.explain,
            s.rfm_segment,
            s.value_class,
            s.grade,
            s.stage,
            s.p_alive,
            s.clv,
            s.churn_risk,
            s.warnings,
        )
        .join(Customer, Customer.id == s.customer_id)
        .where(s.run_id == latest_finished_run(conn), *only(audience.customers))
        .order_by(Customer.external_id)
    )
    for row in _stream(conn, query):
        features, explain = row[1] or {}, row[2] or {}
        found = [features.get(name) for name in SCORE_FEATURES]
        expected = [
            features.get(name, explain.get(name))
            for name in ("expected_purchases", "expected_avg_value")
        ]
        yield [row[0], *found, *row[3:8], *expected, row[8], row[9], row[10] or ""]
