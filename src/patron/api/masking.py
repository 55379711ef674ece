"""Masking personal data (phone, email, address, birthday) for API responses, pages and exports.

Masks keep just enough to recognise a record (`138****8000`, `z***@example.com`) and never
enough to contact the person.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

import phonenumbers

PERSONAL_FIELDS = ("phone", "email", "address", "birthday")
STARS = "****"
# A mainland mobile number, bare or after +86, masks to its first three and last four digits
# without parsing (a list of customers masked a phone per row, the most of its time).
# 179xx is left to the parser: it reads it as a carrier's prefix for calls abroad.
_CN_MOBILE = re.compile(r"(?:\+86)?(1(?:[3-68-9]\d|7[0-8])\d{8})")


def mask_phone(value: str | None, *, region: str = "CN") -> str | None:
    """`+8613800138000` -> `138****8000`; numbers abroad keep their `+CC ` prefix."""
    if not value:
        return value
    mobile = _CN_MOBILE.fullmatch(value) if region == "CN" else None
    if mobile is not None:
        digits = mobile.group(1)
        return digits[:3] + STARS + digits[-4:]
    return _mask_parsed(value, region)


def _mask_parsed(value: str, region: str) -> str:
    """`mask_phone` by the number's parse: its national digits, and its country if abroad."""
    try:
        number = phonenumbers.parse(value, region)
        digits = str(phonenumbers.national_significant_number(number))
        prefix = (
            ""
            if phonenumbers.region_code_for_number(number) == region
            else f"+{number.country_code} "
        )
    except phonenumbers.NumberParseException:
        digits, prefix = "".join(ch for ch in value if ch.isdigit()), ""
    if len(digits) < 8:
        return prefix + STARS + digits[-2:]
    return prefix + digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_email(value: str | None) -> str | None:
    """`zhang.san@example.com` -> `z***@example.com`."""
    if not value:
        return value
    local, at, domain = value.partition("@")
    if not at:
        return local[:1] + "***"
    return f"{local[:1]}***@{domain}"


def mask_address(value: str | None) -> str | None:
    """The first third of an address (province and city, as a rule), then `***`."""
    if not value:
        return value
    return value[: min(6, len(value) // 3)] + "***"


def mask_birthday(value: date | str | None) -> str | None:
    """Only the month stays: `1990-06-15` -> `****-06-**`."""
    if value is None or value == "":
        return None
    text = value.isoformat() if isinstance(value, date) else str(value)
    month = text[5:7] if len(text) >= 7 and text[4] == "-" else "**"
    return f"****-{month}-**"


MASKS = {
    "phone": mask_phone,
    "email": mask_email,
    "address": mask_address,
    "birthday": mask_birthday,
}


def mask_personal(record: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a record (a dict of fields) with its personal fields masked."""
    masked = dict(record)
    for name, mask in MASKS.items():
        if name in masked:
            masked[name] = mask(masked[name])
    return masked
