"""Customers files: one row per customer, keyed by `customer_id` (客户编号)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, cast

from sqlalchemy import Table, delete

from patron.customers import normalise
from patron.customers.models import Customer, CustomerTag
from patron.customers.schemas import DedupePolicy
from patron.imports import duplicates, people, values
from patron.imports.columns import Field, Plan, Record, RowError
from patron.imports.kinds.base import Batch, Kind, Rejected, drop, with_resolved_users
from patron.imports.values import Cell
from patron.imports.writer import Written, chunks, insert_ignoring_duplicates, lookup

CUSTOMER_KINDS = {
    "person": "person",
    "individual": "person",
    "个人": "person",
    "自然人": "person",
    "company": "company",
    "business": "company",
    "企业": "company",
    "公司": "company",
    "单位": "company",
    "机构": "company",
}
_TAG_SEPARATORS = str.maketrans({"；": ";"})
# Fields that are columns of the same name; the others are mapped in `update_columns`.
_PLAIN = ("kind", *normalise.PROFILE_FIELDS, "created_at")
tags_table = cast(Table, CustomerTag.__table__)
customers_table = cast(Table, Customer.__table__)
# The keys, threshold and decisive keys of the duplicate check; the action is the import's own.
POLICY = DedupePolicy()


def _erased(batch: Batch, records: list[Record]) -> Rejected:
    stored = lookup(batch.conn, customers_table, [r.external_id for r in records], "erased_at")
    reason = RowError(
        "customer_id", "this customer's personal data was erased on request; not imported again"
    )
    return [(r, reason) for r in records if stored.get(r.external_id, (None,))[0] is not None]


def short(limit: int) -> Callable[[Cell], str]:
    """A text parser refusing values longer than `limit`."""
    return values.text_parser(limit)


customer_ref = values.text_parser(64)


def _name(raw: Cell) -> str:
    return values.text(normalise.name(str(raw)), limit=200)


def _tags(raw: Cell) -> tuple[str, ...]:
    tags = [tag.strip() for tag in str(raw).translate(_TAG_SEPARATORS).split(";")]
    for tag in tags:
        if len(tag) > 64:
            raise ValueError(f"tag '{tag[:20]}...' is longer than 64 characters")
    return tuple(dict.fromkeys(tag for tag in tags if tag))


class Customers(Kind):
    """People and companies; an `owner` must be an existing username."""

    name = "customers"
    table = cast(Table, Customer.__table__)
    id_field = "customer_id"

    def define(self) -> tuple[Field, ...]:
        """Customer fields and their English and Chinese headers."""
        region = self.options.region
        return (
            Field(
                "customer_id", customer_ref, ("客户编号", "客户ID", "客户代码", "会员编号"), True
            ),
            Field("name", _name, ("客户名称", "客户姓名", "姓名", "名称", "客户名"), True),
            Field(
                "kind",
                values.choice_parser(CUSTOMER_KINDS, "customer kind"),
                ("客户类型", "类型"),
            ),
            Field(
                "phone",
                normalise.as_parser(partial(normalise.phone, region=region)),
                ("手机", "电话", "手机号", "手机号码", "电话号码", "联系电话", "mobile", "tel"),
            ),
            Field(
                "email",
                normalise.as_parser(normalise.email),
                ("邮箱", "电子邮件", "电子邮箱", "e-mail"),
            ),
            Field(
                "gender",
                values.choice_parser(people.GENDERS, "gender"),
                ("性别", "sex"),
            ),
            Field("birthday", partial(values.day, zone=self.options.zone), ("生日", "出生日期")),
            Field("lunar_birthday", people.lunar_birthday, ("农历生日", "阴历生日")),
            Field("province", short(64), ("省份", "省")),
            Field("city", short(64), ("城市", "市")),
            Field("address", short(400), ("地址", "详细地址")),
            Field("industry", short(64), ("行业", "所属行业")),
            Field("company", short(200), ("公司", "公司名称", "单位", "工作单位")),
            Field("credit_code", people.credit_code, ("统一社会信用代码", "信用代码")),
            Field("source", short(64), ("来源", "客户来源")),
            Field("owner", short(64), ("负责人", "归属人", "客户经理", "销售")),
            Field("tags", _tags, ("标签",)),
            Field("created_at", self.moment, ("创建时间", "建档时间", "注册时间")),
        )

    def resolve(self, batch: Batch, records: list[Record]) -> Rejected:
        """Owners are usernames (unknown ones refuse the row); new customers are checked;
        a person whose data was erased on request is never filled in again."""
        rejected = _erased(batch, records)
        rejected += with_resolved_users(
            self, batch, drop(records, rejected), field_name="owner", into="owner_pk"
        )
        action = self.options.dedupe
        return rejected + duplicates.check(
            batch, drop(records, rejected), policy=POLICY, action=action
        )

    def row(self, batch: Batch, record: Record) -> dict[str, Any]:
        """A full customers row."""
        data = record.values
        row = {name: data.get(name) for name in _PLAIN}
        row.update(
            external_id=record.external_id,
            kind=data.get("kind") or "person",
            name=data["name"],
            name_initials=normalise.initials(data["name"]),
            owner_id=data.get("owner_pk"),
            owned_since=batch.at if data.get("owner_pk") else None,
            custom_fields=record.custom,
            locked=False,
            consent={},
            import_hash=record.import_hash,
            created_at=data.get("created_at") or batch.at,
            updated_at=batch.at,
        )
        return row

    def update_columns(self, plan: Plan) -> list[str]:
        """Only the columns the file has, so a narrow file never blanks other fields."""
        present = plan.present
        columns = [name for name in _PLAIN if name in present]
        columns += ["name", "name_initials", "import_hash", "updated_at"]
        if "owner" in present:
            columns.append("owner_id")
        if plan.custom:
            columns.append("custom_fields")
        return columns

    def after_write(self, batch: Batch, written: Written) -> None:
        """Replace the customers' imported tags, then announce them (`customer.created`,
        `customer.updated`) in the batch's transaction."""
        _replace_tags(batch, written.records)
        batch.announce(
            "customer",
            created=[record.external_id for record in written.inserted],
            updated=[record.external_id for record in written.updated],
        )


def _replace_tags(batch: Batch, records: list[Record]) -> None:
    """Tags from the file replace those earlier imports gave; tags set by hand stay."""
    if "tags" not in batch.plan.present or not records:
        return
    ids = lookup(batch.conn, customers_table, [r.external_id for r in records], "id")
    pks = [ids[r.external_id][0] for r in records]
    for part in chunks(pks):
        batch.conn.execute(
            delete(tags_table).where(
                tags_table.c.customer_id.in_(part), tags_table.c.source == "import"
            )
        )
    rows = [
        {"customer_id": pk, "tag": tag, "source": "import", "created_at": batch.at}
        for pk, record in zip(pks, records, strict=True)
        for tag in record.values.get("tags") or ()
    ]
    insert_ignoring_duplicates(batch.conn, tags_table, rows)
