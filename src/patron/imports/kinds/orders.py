"""Orders files: customer_id, ordered_at and amount required; unknown customers are created."""

from __future__ import annotations

from functools import partial
from typing import Any, cast

from sqlalchemy import Table

from patron.imports import values
from patron.imports.columns import Field, Plan, Record, RowError
from patron.imports.kinds.base import Batch, Kind, Rejected
from patron.imports.kinds.customers import customer_ref, short
from patron.imports.references import product_ids
from patron.orders.models import Order

ORDER_STATUSES = {
    "paid": "paid",
    "complete": "paid",
    "completed": "paid",
    "已支付": "paid",
    "已付款": "paid",
    "支付": "paid",
    "已完成": "paid",
    "完成": "paid",
    "成功": "paid",
    "refunded": "refunded",
    "refund": "refunded",
    "已退款": "refunded",
    "退款": "refunded",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "已取消": "cancelled",
    "取消": "cancelled",
    "作废": "cancelled",
}
CUSTOMER_ALIASES = ("客户编号", "客户ID", "客户代码", "会员编号")


class Orders(Kind):
    """One row per order; without `order_id` an id is derived from the row's content."""

    name = "orders"
    table = cast(Table, Order.__table__)
    id_field = "order_id"
    creates_customers = True

    def define(self) -> tuple[Field, ...]:
        """Order fields and their English and Chinese headers."""
        return (
            Field("order_id", short(80), ("订单号", "订单编号", "订单ID")),
            Field("customer_id", customer_ref, CUSTOMER_ALIASES, True),
            Field(
                "ordered_at",
                self.moment,
                ("下单时间", "下单日期", "订单时间", "订单日期", "购买时间", "交易时间"),
                True,
            ),
            Field(
                "amount",
                values.amount,
                ("金额", "订单金额", "实付金额", "支付金额", "交易金额"),
                True,
            ),
            Field(
                "status",
                values.choice_parser(ORDER_STATUSES, "order status"),
                ("状态", "订单状态"),
            ),
            Field("channel", short(64), ("渠道", "销售渠道", "下单渠道")),
            Field("quantity", partial(values.whole, low=0), ("数量", "件数")),
            Field("product_id", short(64), ("商品编号", "商品ID", "产品编号", "SKU")),
            Field("product_name", short(200), ("商品名称", "产品名称", "商品")),
            Field("currency", values.currency, ("币种", "货币")),
        )

    def finish(self, record: Record) -> None:
        """Split the amount from the currency its sign names; refuse negative amounts."""
        data = record.values
        number, sign_currency = data["amount"]
        if number < 0:
            raise RowError("amount", "is negative (mark refunds with status refunded)")
        data["amount"] = number
        if data.get("currency") is None:
            data["currency"] = sign_currency or "CNY"

    def resolve(self, batch: Batch, records: list[Record]) -> Rejected:
        """Customers (created when unknown) and products (created or renamed)."""
        rejected = self.resolve_customers(batch, records)
        names: dict[str, str | None] = {}
        for record in records:
            key = record.values.get("product_id") or record.values.get("product_name")
            if key is not None:
                names[key[:64]] = record.values.get("product_name") or names.get(key[:64])
        if names:
            found = product_ids(batch.conn, names, at=batch.at, write=batch.write)
            for record in records:
                key = record.values.get("product_id") or record.values.get("product_name")
                record.values["product_pk"] = found.get(key[:64]) if key else None
        return rejected

    def row(self, batch: Batch, record: Record) -> dict[str, Any]:
        """A full orders row."""
        data = record.values
        return {
            "external_id": record.external_id,
            "customer_id": data["customer_pk"],
            "ordered_at": data["ordered_at"],
            "amount": data["amount"],
            "status": data.get("status") or "paid",
            "channel": data.get("channel"),
            "currency": data["currency"],
            "quantity": data.get("quantity"),
            "product_id": data.get("product_pk"),
            "custom_fields": record.custom,
            "import_hash": record.import_hash,
            "created_at": batch.at,
        }

    def update_columns(self, plan: Plan) -> list[str]:
        """The required columns, the optional ones the file has, and the hash."""
        present = plan.present
        columns = ["customer_id", "ordered_at", "amount", "currency", "import_hash"]
        columns += [name for name in ("status", "channel", "quantity") if name in present]
        if present & {"product_id", "product_name"}:
            columns.append("product_id")
        if plan.custom:
            columns.append("custom_fields")
        return columns
