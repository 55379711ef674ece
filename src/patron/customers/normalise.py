"""One canonical form for the keys people type in many ways: phones, emails, names."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import phonenumbers

from patron.errors import InvalidInput

_SPACES = re.compile(r"\s+")
# A customer's profile fields, each a column of the same name, stored in the form the
# functions below give: what an import writes as it is, and what a merge copies to a
# survivor that has none.
PROFILE_FIELDS = (
    "phone",
    "email",
    "gender",
    "birthday",
    "lunar_birthday",
    "province",
    "city",
    "address",
    "industry",
    "company",
    "credit_code",
    "source",
)


def phone(raw: str, *, region: str = "CN") -> str:
    """E.164 (`+8613800138000`) from any common way of writing a number; refuses invalid ones."""
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(f"'{raw}' is not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"'{raw}' is not a valid phone number for region {region}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email(raw: str) -> str:
    """A trimmed, lower-cased address with one @ and a dotted domain."""
    text = raw.strip().lower()
    local, _, domain = text.partition("@")
    if not local or "." not in domain or " " in text or domain.startswith("."):
        raise InvalidInput(f"'{raw}' is not an email address")
    return text


def name(raw: str) -> str:
    """Full-width forms folded (NFKC) and runs of spaces collapsed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", raw)).strip()


def company_key(raw: str) -> str:
    """A company name reduced for matching: folded, lower-case, no spaces or punctuation."""
    folded = unicodedata.normalize("NFKC", raw).lower()
    return "".join(ch for ch in folded if ch.isalnum())


def initials(raw: str) -> str:
    """Pinyin initials for search (`张三` -> `zs`); Latin words keep their first letter."""
    from pypinyin import Style, lazy_pinyin  # its dictionaries load on first use, not at start

    letters = []
    for part in lazy_pinyin(name(raw), style=Style.FIRST_LETTER, errors="default"):
        for word in part.split():
            if word[:1].isalnum():
                letters.append(word[0].lower())
    return "".join(letters)[:64]


def as_parser(normaliser: Callable[[str], str]) -> Callable[[object], str]:
    """A normaliser as a cell parser: its InvalidInput becomes the ValueError parsers raise."""

    def parse(raw: object) -> str:
        try:
            return normaliser(str(raw))
        except InvalidInput as exc:
            raise ValueError(exc.message) from None

    return parse
