"""Interactions, tickets and survey responses: each belongs to an existing customer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Table

from patron.engagement.models import Interaction
from patron.imports import values
from patron.imports.columns import Field, Plan, Record, RowError
from patron.imports.kinds.base import (
    Batch,
    Kind,
    Rejected,
    column_of,
    drop,
    with_resolved_users,
)
from patron.imports.kinds.customers import customer_ref, short
from patron.imports.kinds.orders import CUSTOMER_ALIASES
from patron.imports.values import Cell
from patron.imports.writer import lookup
from patron.service.models import SurveyResponse, Ticket

INTERACTION_KINDS = {
    "call": "call",
    "phone": "call",
    "电话": "call",
    "通话": "call",
    "来电": "call",
    "visit": "visit",
    "拜访": "visit",
    "上门": "visit",
    "到访": "visit",
    "email": "email",
    "邮件": "email",
    "chat": "chat",
    "在线": "chat",
    "聊天": "chat",
    "客服": "chat",
    "wechat": "wechat",
    "微信": "wechat",
    "sms": "sms",
    "短信": "sms",
    "social": "social",
    "社交": "social",
    "社媒": "social",
}
DIRECTIONS = {
    "inbound": "inbound",
    "in": "inbound",
    "呼入": "inbound",
    "来电": "inbound",
    "客户发起": "inbound",
    "outbound": "outbound",
    "out": "outbound",
    "呼出": "outbound",
    "去电": "outbound",
    "主动": "outbound",
}
TICKET_KINDS = {
    "inquiry": "inquiry",
    "咨询": "inquiry",
    "presale": "presale",
    "售前": "presale",
    "aftersale": "aftersale",
    "售后": "aftersale",
    "complaint": "complaint",
    "投诉": "complaint",
}
PRIORITIES = {
    "low": "low",
    "低": "low",
    "normal": "normal",
    "普通": "normal",
    "中": "normal",
    "high": "high",
    "高": "high",
    "urgent": "urgent",
    "紧急": "urgent",
}
TICKET_STATUSES = {
    "new": "new",
    "新建": "new",
    "assigned": "assigned",
    "已分配": "assigned",
    "in_progress": "in_progress",
    "处理中": "in_progress",
    "waiting_for_customer": "waiting_for_customer",
    "待客户回复": "waiting_for_customer",
    "resolved": "resolved",
    "已解决": "resolved",
    "closed": "closed",
    "已关闭": "closed",
    "关闭": "closed",
    "reopened": "reopened",
    "重新打开": "reopened",
}
SURVEY_KINDS = {"nps": "nps", "净推荐值": "nps", "csat": "csat", "满意度": "csat"}
SCORE_RANGES = {"nps": (0, 10), "csat": (1, 5)}


def _choice(aliases: dict[str, str], what: str) -> Callable[[Cell], str]:
    return values.choice_parser(aliases, what)


def _customer() -> Field:
    return Field("customer_id", customer_ref, CUSTOMER_ALIASES, True)


def _present(plan: Plan, names: tuple[str, ...]) -> list[str]:
    return [name for name in names if name in plan.present]


class Interactions(Kind):
    """Calls, visits, messages; `user` is the username of the person who had them."""

    name = "interactions"
    table = cast(Table, Interaction.__table__)
    id_field = "interaction_id"

    def define(self) -> tuple[Field, ...]:
        """Interaction fields and their English and Chinese headers."""
        return (
            Field("interaction_id", short(80), ("互动编号", "记录编号")),
            _customer(),
            Field("occurred_at", self.moment, ("发生时间", "互动时间", "联系时间", "时间"), True),
            Field(
                "kind",
                _choice(INTERACTION_KINDS, "kind of interaction"),
                ("方式", "互动方式", "联系方式", "类型"),
                True,
            ),
            Field("direction", _choice(DIRECTIONS, "direction"), ("方向", "呼叫方向")),
            Field("summary", short(20_000), ("摘要", "内容", "备注", "记录")),
            Field("is_follow_up", values.flag, ("是否跟进", "跟进")),
            Field("user", short(64), ("员工", "跟进人", "负责人", "用户")),
        )

    def resolve(self, batch: Batch, records: list[Record]) -> Rejected:
        """The customer must exist; `user`, when given, must be a username."""
        rejected = self.resolve_customers(batch, records)
        return rejected + with_resolved_users(
            self, batch, drop(records, rejected), field_name="user", into="user_pk"
        )

    def row(self, batch: Batch, record: Record) -> dict[str, Any]:
        """A full interactions row."""
        data = record.values
        return {
            "external_id": record.external_id,
            "customer_id": data["customer_pk"],
            "kind": data["kind"],
            "direction": data.get("direction") or "outbound",
            "is_follow_up": bool(data.get("is_follow_up")),
            "summary": data.get("summary") or "",
            "user_id": data.get("user_pk"),
            "occurred_at": data["occurred_at"],
            "import_hash": record.import_hash,
        }

    def update_columns(self, plan: Plan) -> list[str]:
        """Required columns, the optional ones the file has, and the hash."""
        columns = ["customer_id", "occurred_at", "kind", "import_hash"]
        columns += _present(plan, ("direction", "is_follow_up", "summary"))
        return columns + (["user_id"] if "user" in plan.present else [])


class Tickets(Kind):
    """Service and complaint tickets; `assignee` is a username."""

    name = "tickets"
    table = cast(Table, Ticket.__table__)
    id_field = "ticket_id"

    def define(self) -> tuple[Field, ...]:
        """Ticket fields and their English and Chinese headers."""
        return (
            Field("ticket_id", short(80), ("工单号", "工单编号")),
            _customer(),
            Field("opened_at", self.moment, ("创建时间", "提交时间", "开单时间", "受理时间"), True),
            Field("kind", _choice(TICKET_KINDS, "ticket kind"), ("工单类型", "类型"), True),
            Field("priority", _choice(PRIORITIES, "priority"), ("优先级",)),
            Field("status", _choice(TICKET_STATUSES, "ticket status"), ("状态", "工单状态")),
            Field("subject", short(300), ("主题", "标题")),
            Field("description", short(20_000), ("描述", "详情", "问题描述")),
            Field("channel", short(16), ("渠道", "来源渠道")),
            Field("category", short(64), ("分类", "类别")),
            Field("assignee", short(64), ("处理人", "负责人")),
            Field("first_response_at", self.moment, ("首次响应时间",)),
            Field("resolved_at", self.moment, ("解决时间",)),
            Field("closed_at", self.moment, ("关闭时间",)),
        )

    def resolve(self, batch: Batch, records: list[Record]) -> Rejected:
        """The customer must exist; `assignee`, when given, must be a username."""
        rejected = self.resolve_customers(batch, records)
        return rejected + with_resolved_users(
            self, batch, drop(records, rejected), field_name="assignee", into="assignee_pk"
        )

    def row(self, batch: Batch, record: Record) -> dict[str, Any]:
        """A full tickets row."""
        data = record.values
        return {
            "external_id": record.external_id,
            "customer_id": data["customer_pk"],
            "kind": data["kind"],
            "channel": data.get("channel") or "phone",
            "priority": data.get("priority") or "normal",
            "status": data.get("status") or "new",
            "subject": data.get("subject") or "",
            "description": data.get("description") or "",
            "category": data.get("category"),
            "root_causes": [],
            "assignee_id": data.get("assignee_pk"),
            "opened_at": data["opened_at"],
            "first_response_at": data.get("first_response_at"),
            "resolved_at": data.get("resolved_at"),
            "closed_at": data.get("closed_at"),
            "import_hash": record.import_hash,
            "created_at": batch.at,
            "updated_at": batch.at,
        }

    def update_columns(self, plan: Plan) -> list[str]:
        """Required columns, the optional ones the file has, and the hash."""
        optional = (
            "priority",
            "status",
            "subject",
            "description",
            "channel",
            "category",
            "first_response_at",
            "resolved_at",
            "closed_at",
        )
        columns = ["customer_id", "opened_at", "kind", "import_hash", "updated_at"]
        columns += _present(plan, optional)
        return columns + (["assignee_id"] if "assignee" in plan.present else [])


class Responses(Kind):
    """NPS (0-10) and CSAT (1-5) answers, optionally about a ticket."""

    name = "responses"
    table = cast(Table, SurveyResponse.__table__)
    id_field = "response_id"

    def define(self) -> tuple[Field, ...]:
        """Response fields and their English and Chinese headers."""
        return (
            Field("response_id", short(80), ("答卷编号", "回复编号", "问卷编号")),
            _customer(),
            Field("answered_at", self.moment, ("回答时间", "提交时间", "评价时间", "时间"), True),
            Field("kind", _choice(SURVEY_KINDS, "survey kind"), ("问卷类型", "类型"), True),
            Field("score", values.whole, ("分数", "评分", "得分"), True),
            Field("comment", short(20_000), ("评论", "意见", "备注", "评价")),
            Field("ticket_id", short(80), ("工单号", "工单编号")),
        )

    def finish(self, record: Record) -> None:
        """NPS scores run 0-10, CSAT scores 1-5."""
        low, high = SCORE_RANGES[record.values["kind"]]
        score = record.values["score"]
        if not low <= score <= high:
            kind = record.values["kind"].upper()
            raise RowError("score", f"{score} is outside {low}-{high} for {kind}")

    def resolve(self, batch: Batch, records: list[Record]) -> Rejected:
        """The customer must exist, and so must the ticket a response names."""
        rejected = self.resolve_customers(batch, records)
        kept = drop(records, rejected)
        wanted = [r.values["ticket_id"] for r in kept if r.values.get("ticket_id")]
        tickets = lookup(batch.conn, cast(Table, Ticket.__table__), wanted, "id")
        for record in kept:
            key = record.values.get("ticket_id")
            if key and key not in tickets:
                column = column_of(batch.plan, "ticket_id")
                rejected.append((record, RowError(column, f"no ticket has id '{key}'")))
            record.values["ticket_pk"] = tickets[key][0] if key in tickets else None
        return rejected

    def row(self, batch: Batch, record: Record) -> dict[str, Any]:
        """A full survey_responses row."""
        data = record.values
        return {
            "external_id": record.external_id,
            "customer_id": data["customer_pk"],
            "ticket_id": data.get("ticket_pk"),
            "kind": data["kind"],
            "score": data["score"],
            "comment": data.get("comment") or "",
            "answered_at": data["answered_at"],
            "answers": record.custom,
            "import_hash": record.import_hash,
        }

    def update_columns(self, plan: Plan) -> list[str]:
        """Required columns, the optional ones the file has, and the hash."""
        columns = ["customer_id", "answered_at", "kind", "score", "import_hash"]
        columns += _present(plan, ("comment", "ticket_id"))
        return columns + (["answers"] if plan.custom else [])
