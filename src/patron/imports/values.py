"""Cell values as people type them, turned into one canonical form or refused with a reason.

Every parser takes a non-empty cell (a stripped string from CSV, or the typed value an XLSX
cell holds) and raises `ValueError` with a plain reason the rejects file can show.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from openpyxl.utils.datetime import from_excel

Cell = str | int | float | Decimal | datetime | date | time | bool | None

_SLASHED = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_DASHED = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_CHINESE_DATE = re.compile(
    r"^(\d{4})年(\d{1,2})月(\d{1,2})日(?:\s*(\d{1,2}):(\d{2})(?::(\d{2}))?)?$"
)
_CURRENCY_SIGNS = {"¥": "CNY", "￥": "CNY", "$": "USD", "€": "EUR", "£": "GBP"}
_AMOUNT_NOISE = re.compile(r"[\s,，]|元|RMB|CNY|USD|EUR", re.IGNORECASE)
_CENT = Decimal("0.01")
_MAX_AMOUNT = Decimal("1e12")
# Excel stores dates as day counts; anything in this range in a date column is one.
_EXCEL_SERIALS = (1, 2_958_465)
_TRUE = {"1", "true", "yes", "y", "t", "是", "对", "真", "x", "✓"}
_FALSE = {"0", "false", "no", "n", "f", "否", "不", "假"}


def text(raw: Cell, *, limit: int) -> str:
    """A cell as text, refusing values longer than the column holds."""
    value = raw if type(raw) is str else _as_text(raw)
    if len(value) > limit:
        raise ValueError(f"is longer than {limit} characters")
    return value


def _as_text(raw: Cell) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, datetime):
        return raw.isoformat(sep=" ")
    return str(raw).strip()


def moment(raw: Cell, *, zone: ZoneInfo) -> datetime:
    """A date or datetime in any accepted form, as naive local (business) time."""
    if type(raw) is str:
        try:
            # The fast path: ISO dates and datetimes, and YYYYMMDD.
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            pass
        else:
            return (
                parsed if parsed.tzinfo is None and not parsed.microsecond else _local(parsed, zone)
            )
    if isinstance(raw, datetime):
        return _local(raw, zone)
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day)
    if isinstance(raw, int | float | Decimal) and not isinstance(raw, bool):
        return _excel_serial(float(raw))
    value = str(raw).strip()
    try:
        return _local(datetime.fromisoformat(value), zone)
    except ValueError:
        pass
    for pattern in (_SLASHED, _DASHED, _CHINESE_DATE):
        match = pattern.match(value)
        if match:
            return _from_parts(match.groups(), value)
    raise ValueError(f"'{value}' is not a date (use YYYY-MM-DD, YYYYMMDD or YYYY/M/D H:MM)")


def day(raw: Cell, *, zone: ZoneInfo) -> date:
    """A calendar date; a time of day, if given, is dropped."""
    return moment(raw, zone=zone).date()


def _local(value: datetime, zone: ZoneInfo) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(zone).replace(tzinfo=None)
    return value.replace(microsecond=0)


def _excel_serial(serial: float) -> datetime:
    if not _EXCEL_SERIALS[0] <= serial <= _EXCEL_SERIALS[1]:
        raise ValueError(f"'{serial:g}' is not a date")
    converted = from_excel(serial)
    if isinstance(converted, datetime):
        return converted.replace(microsecond=0)
    raise ValueError(f"'{serial:g}' is not a date")


def _from_parts(parts: tuple[str | None, ...], original: str) -> datetime:
    numbers = [int(part) if part else 0 for part in parts]
    try:
        year, month, day_of_month, hour, minute, second = numbers[:6]
        return datetime(year, month, day_of_month, hour, minute, second)
    except ValueError as exc:
        raise ValueError(f"'{original}' is not a real date ({exc})") from exc


def amount(raw: Cell) -> tuple[Decimal, str | None]:
    """A money amount to the cent, and the currency its sign names (`¥1,234.50`)."""
    if type(raw) is str and raw[:1].isdigit():
        try:
            return _cents(Decimal(raw), raw), None
        except InvalidOperation:
            pass
    if isinstance(raw, bool | datetime | date | time):
        raise ValueError(f"'{raw}' is not an amount")
    if isinstance(raw, int | float | Decimal):
        return _cents(Decimal(str(raw)), str(raw)), None
    value = str(raw).strip()
    currency = None
    negative = value.startswith("-")
    body = value[1:] if value[:1] in "-+" else value
    if body[:1] in _CURRENCY_SIGNS:
        currency = _CURRENCY_SIGNS[body[0]]
        body = body[1:]
    body = _AMOUNT_NOISE.sub("", body)
    if body[:1] in ("-", "+"):
        raise ValueError(f"'{value}' is not an amount")
    try:
        number = Decimal(body)
    except InvalidOperation:
        raise ValueError(f"'{value}' is not an amount") from None
    return _cents(-number if negative else number, value), currency


def _cents(number: Decimal, original: str) -> Decimal:
    if not number.is_finite() or abs(number) >= _MAX_AMOUNT:
        raise ValueError(f"'{original}' is not a usable amount")
    return number.quantize(_CENT, rounding=ROUND_HALF_UP)


def whole(raw: Cell, *, low: int | None = None, high: int | None = None) -> int:
    """A whole number, optionally within [low, high]."""
    if isinstance(raw, bool):
        raise ValueError(f"'{raw}' is not a whole number")
    try:
        number = Decimal(_as_text(raw).replace(",", ""))
    except InvalidOperation:
        raise ValueError(f"'{raw}' is not a whole number") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise ValueError(f"'{raw}' is not a whole number")
    result = int(number)
    if (low is not None and result < low) or (high is not None and result > high):
        raise ValueError(f"{result} is outside {low}-{high}")
    return result


def flag(raw: Cell) -> bool:
    """Yes/no in English or Chinese, or 1/0."""
    if isinstance(raw, bool):
        return raw
    value = _as_text(raw).lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"'{value}' is not yes or no")


def choice(raw: Cell, *, aliases: dict[str, str], what: str) -> str:
    """One of a fixed set of values, given in English or by a Chinese alias."""
    value = _as_text(raw)
    found = aliases.get(value.lower()) or aliases.get(value)
    if found is None:
        allowed = ", ".join(sorted(set(aliases.values())))
        raise ValueError(f"'{value}' is not a {what} (use one of: {allowed})")
    return found


def currency(raw: Cell) -> str:
    """A three-letter ISO currency code; common Chinese names are understood."""
    value = _as_text(raw)
    code = _CURRENCY_NAMES.get(value, value.upper())
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise ValueError(f"'{value}' is not a currency code (like CNY or USD)")
    return code


_CURRENCY_NAMES = {
    "人民币": "CNY",
    "元": "CNY",
    "RMB": "CNY",
    "rmb": "CNY",
    "美元": "USD",
    "欧元": "EUR",
    "港币": "HKD",
    "港元": "HKD",
    "日元": "JPY",
    "英镑": "GBP",
}


# Parser factories: closures with a fast path for the common case, since they run per cell.


def text_parser(limit: int) -> Callable[[Cell], str]:
    """A parser for text of at most `limit` characters."""

    def parse(raw: Cell) -> str:
        if type(raw) is str and len(raw) <= limit:
            return raw
        return text(raw, limit=limit)

    return parse


def choice_parser(aliases: dict[str, str], what: str) -> Callable[[Cell], str]:
    """A parser accepting the values (and aliases) in `aliases`."""

    def parse(raw: Cell) -> str:
        found = aliases.get(raw) if type(raw) is str else None
        return found if found is not None else choice(raw, aliases=aliases, what=what)

    return parse


def moment_parser(zone: ZoneInfo) -> Callable[[Cell], datetime]:
    """A parser for dates and datetimes, as local time in `zone`."""

    def parse(raw: Cell) -> datetime:
        return moment(raw, zone=zone)

    return parse
