"""Choosing the language and the catalogs' coverage of every text the pages show."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from patron.web import i18n

WEB = Path(i18n.__file__).resolve().parent
LITERAL = re.compile(r'_\("([^"]+)"\)')


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        ("en-US,en;q=0.9", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
        ("fr-FR,en;q=0.5", "en"),
        ("en;q=0.3,zh;q=0.8", "zh_CN"),
        ("fr-FR", "zh_CN"),
        ("", "zh_CN"),
        (None, "zh_CN"),
        ("en;q=oops", "zh_CN"),
    ],
)
def test_the_browser_preference_picks_the_locale(header: str | None, locale: str) -> None:
    assert i18n.from_accept_language(header) == locale


def test_a_switch_names_a_known_locale() -> None:
    assert i18n.known("zh-CN") == "zh_CN"
    assert i18n.known("EN") == "en"
    assert i18n.known("de") is None
    assert i18n.html_lang("zh_CN") == "zh-CN"


def test_untranslated_text_falls_back_to_english() -> None:
    assert i18n.translator("zh_CN")("Dashboard") == "仪表盘"
    assert i18n.translator("en")("Dashboard") == "Dashboard"
    assert i18n.translator("en")("at_risk") == "At risk"
    assert i18n.translator("zh_CN")("no such text") == "no such text"


def test_every_page_text_has_a_chinese_translation() -> None:
    sources = [*WEB.rglob("*.html"), *WEB.rglob("*.py")]
    used = {text for path in sources for text in LITERAL.findall(path.read_text("utf-8"))}
    assert len(used) > 50
    missing = sorted(used - set(i18n.messages("zh_CN")))
    assert not missing, f"add these to translations/zh_CN/LC_MESSAGES/messages.po: {missing}"
