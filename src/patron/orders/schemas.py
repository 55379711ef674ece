"""What the orders API takes and gives.

Values are read with the import rules (`patron.imports.values`), so an order posted as JSON
accepts the same amounts (`"¥1,234.50"`), dates (`2024/3/1 10:00`) and statuses (`已支付`) as a
row of an orders file, and stores the same naive business-time datetimes.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from patron.config import get_settings
from patron.imports import values
from patron.imports.kinds.orders import ORDER_STATUSES
from patron.orders.models import OrderStatus
from patron.wire import LocalDateTime

MAX_BULK = 10_000
MAX_LINES = 500


def _amount(raw: Any) -> Decimal:
    if isinstance(raw, Decimal):
        raw = str(raw)
    if raw is None or raw == "":
        raise ValueError("an amount is required")
    number, _sign_currency = values.amount(raw)
    if number < 0:
        raise ValueError("is negative (send refunds with status refunded)")
    return number


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OrderLineIn(_In):
    """One product on an order; the product is created (or renamed) by its code."""

    product_id: str = Field(min_length=1, max_length=64, description="The product's code (SKU)")
    product_name: str | None = Field(default=None, max_length=200)
    quantity: int = Field(default=1, ge=1, le=1_000_000)
    amount: Decimal = Field(description='The line\'s total, e.g. 99.50 or "¥99.50"')

    @field_validator("amount", mode="before")
    @classmethod
    def _read_amount(cls, raw: Any) -> Decimal:
        return _amount(raw)


class OrderIn(_In):
    """An order from a selling system. `external_id` is its id there: an order whose id is
    already stored is not stored again, so a retried request never makes a second copy."""

    external_id: str = Field(min_length=1, max_length=80, description="The order's id (订单号)")
    customer_id: int | None = Field(default=None, description="Patron's customer id")
    customer_external_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="The customer's id (客户编号) instead; an unknown one is created from it",
    )
    ordered_at: datetime = Field(description="ISO, YYYYMMDD or YYYY/M/D H:MM; business time")
    amount: Decimal = Field(description='The order\'s total, e.g. 1234.50 or "¥1,234.50"')
    status: OrderStatus = Field(default=OrderStatus.paid, description="paid, refunded, cancelled")
    channel: str | None = Field(default=None, max_length=64)
    currency: str = Field(default="CNY", description="A three-letter code such as CNY")
    quantity: int | None = Field(default=None, ge=0, le=1_000_000)
    product_id: str | None = Field(default=None, max_length=64)
    product_name: str | None = Field(default=None, max_length=200)
    lines: list[OrderLineIn] = Field(default_factory=list, max_length=MAX_LINES)
    custom_fields: dict[str, Any] = Field(default_factory=dict)

    @field_validator("amount", mode="before")
    @classmethod
    def _read_amount(cls, raw: Any) -> Decimal:
        return _amount(raw)

    @field_validator("ordered_at", mode="before")
    @classmethod
    def _read_moment(cls, raw: Any) -> datetime:
        if raw is None or raw == "":
            raise ValueError("a date is required")
        return values.moment(raw, zone=ZoneInfo(get_settings().timezone))

    @field_validator("status", mode="before")
    @classmethod
    def _read_status(cls, raw: Any) -> str:
        return values.choice(raw, aliases=ORDER_STATUSES, what="order status")

    @field_validator("currency", mode="before")
    @classmethod
    def _read_currency(cls, raw: Any) -> str:
        return values.currency(raw)

    @model_validator(mode="after")
    def _one_customer(self) -> OrderIn:
        if (self.customer_id is None) == (self.customer_external_id is None):
            raise ValueError("give the customer as customer_id or customer_external_id (one)")
        return self


class OrderLineView(BaseModel):
    """A line of an order."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    product_id: int
    product_code: str
    product_name: str
    quantity: int
    amount: Decimal


class OrderView(BaseModel):
    """An order as the API shows it; `lines` only on the single-order routes."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    external_id: str
    customer_id: int
    ordered_at: LocalDateTime
    amount: Decimal
    status: OrderStatus
    channel: str | None
    currency: str
    quantity: int | None
    product_id: int | None
    custom_fields: dict[str, Any]
    created_at: LocalDateTime
    lines: list[OrderLineView] | None = None


class RowProblem(BaseModel):
    """Why one order of a bulk request was not stored."""

    row: int = Field(description="Its position in the request, from 0")
    external_id: str | None
    problems: list[str]


class BulkResult(BaseModel):
    """What a bulk request stored: counts, and a reason for every order it refused."""

    received: int
    inserted: int
    existing: int = Field(description="Already stored under their external_id: left as they are")
    rejected: int
    customers_created: int
    errors: list[RowProblem]
