"""The pages' languages: Babel .po catalogs read at start-up, the request's locale chosen
from a cookie, else the browser's Accept-Language, else Chinese."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from babel import negotiate_locale
from babel.messages.pofile import read_po
from starlette.requests import Request

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
LANGUAGE_COOKIE = "patron_lang"
CATALOGS = Path(__file__).resolve().parent / "translations"

Translate = Callable[[str], str]


@cache
def messages(locale: str) -> dict[str, str]:
    """The translated strings of a locale, by their English source text."""
    path = CATALOGS / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    # An empty translation means "as the source": the English catalog is all of those.
    return {
        str(message.id): str(message.string)
        for message in catalog
        if message.id and message.string and not message.fuzzy
    }


def translator(locale: str) -> Translate:
    """`_(text)` for a locale: the translation, or the English source when there is none."""
    table = messages(locale)

    def translate(text: str) -> str:
        return table.get(text, text)

    return translate


def known(locale: str | None) -> str | None:
    """The supported locale a cookie or a switch names (`zh-CN`, `zh_CN`, `en`), if any."""
    if not locale:
        return None
    wanted = locale.replace("-", "_")
    return next((code for code in LOCALES if code.lower() == wanted.lower()), None)


def from_accept_language(header: str | None) -> str:
    """The best supported locale for an Accept-Language header (`zh-CN,zh;q=0.9,en;q=0.8`)."""
    if not header:
        return DEFAULT_LOCALE
    preferred = []
    for part in header.split(","):
        tag, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            continue
        if tag and tag != "*":
            preferred.append((weight, tag.replace("-", "_")))
    ranked = [tag for _, tag in sorted(preferred, key=lambda item: -item[0])]
    chosen = negotiate_locale(ranked, list(LOCALES), aliases={"zh": "zh_CN", "en": "en"})
    return chosen if chosen in LOCALES else DEFAULT_LOCALE


def request_locale(request: Request) -> str:
    """The locale for this request: the remembered choice, else the browser's preference."""
    return known(request.cookies.get(LANGUAGE_COOKIE)) or from_accept_language(
        request.headers.get("accept-language")
    )


def html_lang(locale: str) -> str:
    """The `lang` attribute for a locale: `zh-CN` or `en`."""
    return locale.replace("_", "-")
