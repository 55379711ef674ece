"""Products, orders and order lines. Refunded and cancelled orders never count as purchases."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from patron.db import Base, Id, Timestamped, now


class OrderStatus(enum.StrEnum):
    paid = "paid"
    refunded = "refunded"
    cancelled = "cancelled"


class Product(Timestamped, Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(64))
    price: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))


class Order(Base):
    """One order as imported or posted; `import_hash` tells an unchanged re-import apart."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_customer_ordered_at", "customer_id", "ordered_at"),
        Index("ix_orders_ordered_at", "ordered_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(80), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    ordered_at: Mapped[datetime]
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    status: Mapped[OrderStatus] = mapped_column(
        Enum(OrderStatus, native_enum=False, length=16), default=OrderStatus.paid
    )
    channel: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    quantity: Mapped[int | None]
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"), index=True)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    import_hash: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=now)


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int] = mapped_column(default=1)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
