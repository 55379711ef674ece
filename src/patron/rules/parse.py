"""Read a rule expression's text into a sqlglot tree, refusing what must never reach it:
control characters, comments, statement separators, and text that is not SQL."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import TokenType
from sqlglot.tokens import Tokenizer

from patron.errors import RuleError

_WHITESPACE = frozenset("\t\n\r")


def snippet(text: str, limit: int = 60) -> str:
    """Text for a message: whitespace collapsed, shortened when long."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def parse(text: str) -> exp.Expr:
    """The sqlglot tree of one expression, or a RuleError saying what stops it being read."""
    _refuse_control_characters(text)
    _tokens_are_plain(text)
    return _parse(text)


def _refuse_control_characters(text: str) -> None:
    for char in text:
        if char not in _WHITESPACE and unicodedata.category(char) in ("Cc", "Cf"):
            raise RuleError(
                f"the expression contains an invisible control character (U+{ord(char):04X})"
            )


def _tokens_are_plain(text: str) -> None:
    try:
        tokens = Tokenizer().tokenize(text)
    except TokenError:
        raise RuleError(
            "cannot read the expression: a quote or comment is not closed "
            f"near `{snippet(text[-30:])}`"
        ) from None
    if not tokens:
        raise RuleError("the expression has no condition, only a comment or nothing")
    for token in tokens:
        if token.comments:
            raise RuleError("comments (-- or /* */) are not allowed in a rule expression")
        if token.token_type is TokenType.SEMICOLON:
            rest = snippet(text[token.start :])
            raise RuleError(
                f"`{rest}`: only one condition is allowed, no ';' or further statements"
            )


@contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    """Keep sqlglot's own warnings (e.g. on a statement it cannot parse) off the terminal."""
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _parse(text: str) -> exp.Expr:
    try:
        with _quiet_sqlglot():
            tree = sqlglot.parse_one(text)
    except ParseError as exc:
        error = exc.errors[0] if exc.errors else {}
        reason = str(error.get("description") or "not valid SQL").split(" for <")[0]
        reason = reason[:1].lower() + reason[1:]
        if not error.get("highlight"):
            raise RuleError(f"cannot read the expression: {reason}") from None
        raise RuleError(
            f"cannot read the expression near `{snippet(str(error['highlight']))}` "
            f"(column {error.get('col')}): {reason}"
        ) from None
    if tree is None:
        raise RuleError("the expression is empty")
    return tree
