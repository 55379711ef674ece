"""Templates: both locales, plain substitution only, clear errors."""

from __future__ import annotations

import pytest

from patron.errors import InvalidInput
from patron.notify.templates import LOCALES, TEMPLATES, fill, render


def test_every_template_exists_in_both_locales() -> None:
    assert all(set(versions) == set(LOCALES) for versions in TEMPLATES.values())


def test_a_template_renders_in_chinese_and_english() -> None:
    values = {"customer": "张三", "points": 120, "date": "2024-06-30"}
    assert render("points_expiring", "zh_CN", values) == (
        "积分即将过期",
        "张三，您的 120 积分将于 2024-06-30 过期。",
    )
    assert (
        render("points_expiring", "en", values)[1] == "张三, your 120 points expire on 2024-06-30."
    )


def test_values_are_plain_text_and_never_expanded_again() -> None:
    values = {"customer": "${message}", "message": "$customer.__class__"}
    assert fill("$customer / $message / $$5", values) == "${message} / $customer.__class__ / $5"


def test_templates_cannot_reach_attributes_or_call_code() -> None:
    class Sneaky:
        secret = "hidden"

        def __str__(self) -> str:
            return "shown"

    assert fill("$who.secret ${who}", {"who": Sneaky()}) == "shown.secret shown"


def test_missing_values_unknown_templates_and_locales_are_refused() -> None:
    with pytest.raises(InvalidInput, match="needs a value for 'date'"):
        render("points_expiring", "en", {"customer": "a", "points": 1})
    with pytest.raises(InvalidInput, match="no message template 'welcome'"):
        render("welcome", "en", {})
    with pytest.raises(InvalidInput, match="not a message locale"):
        render("points_expiring", "fr", {})
    with pytest.raises(InvalidInput, match="malformed"):
        fill("costs $5", {})
