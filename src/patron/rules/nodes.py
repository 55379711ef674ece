"""The checked form of a rule expression: a small typed tree, and its normalised text.

`language.check` builds these trees from the parsed text; only the node kinds here exist,
so the compiler and the evaluator never meet anything the checker did not approve.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum


class Type(StrEnum):
    """The static type of an expression part."""

    integer = "integer"
    number = "number"
    text = "text"
    boolean = "boolean"
    date = "date"
    tags = "tags"
    null = "null"
    any = "any"  # a name given without a type (an earlier rulebook output)


NUMERIC = frozenset({Type.integer, Type.number})

_DESCRIPTIONS = {
    Type.integer: "a number",
    Type.number: "a number",
    Type.text: "text",
    Type.boolean: "true/false",
    Type.date: "a date",
    Type.tags: "a tag set",
    Type.null: "NULL",
    Type.any: "a value",
}


def describe(kind: Type) -> str:
    """The type in words, for error messages."""
    return _DESCRIPTIONS[kind]


Value = int | float | str | bool | None


@dataclass(frozen=True)
class Column:
    name: str
    type: Type


@dataclass(frozen=True)
class Literal:
    value: Value
    type: Type


@dataclass(frozen=True)
class Negate:
    operand: Node
    type: Type = Type.number


@dataclass(frozen=True)
class Arithmetic:
    op: str  # + - * / %
    left: Node
    right: Node
    type: Type = Type.number


@dataclass(frozen=True)
class Comparison:
    op: str  # = <> < <= > >=
    left: Node
    right: Node
    type: Type = Type.boolean


@dataclass(frozen=True)
class Logical:
    op: str  # AND OR
    left: Node
    right: Node
    type: Type = Type.boolean


@dataclass(frozen=True)
class Not:
    operand: Node
    type: Type = Type.boolean


@dataclass(frozen=True)
class InList:
    subject: Node
    items: tuple[Node, ...]
    negated: bool = False
    type: Type = Type.boolean


@dataclass(frozen=True)
class Between:
    subject: Node
    low: Node
    high: Node
    negated: bool = False
    type: Type = Type.boolean


@dataclass(frozen=True)
class IsNull:
    subject: Node
    negated: bool = False
    type: Type = Type.boolean


@dataclass(frozen=True)
class Case:
    whens: tuple[tuple[Node, Node], ...]
    default: Node | None
    type: Type


@dataclass(frozen=True)
class Call:
    name: str  # upper case, one of patron.rules.functions.FUNCTIONS
    args: tuple[Node, ...]
    type: Type


Node = (
    Column
    | Literal
    | Negate
    | Arithmetic
    | Comparison
    | Logical
    | Not
    | InList
    | Between
    | IsNull
    | Case
    | Call
)


@dataclass(frozen=True)
class CheckedExpression:
    """An expression that passed every check: its source, typed tree and normalised text."""

    source: str
    root: Node
    features: frozenset[str] = field(default_factory=frozenset)

    @property
    def normalised(self) -> str:
        """The expression in Patron's canonical spelling; checking it again gives the same."""
        return render(self.root)

    def __str__(self) -> str:
        return self.normalised


# Binding strength, loosest first; a child looser than its slot needs parentheses.
_OR, _AND, _NOT, _COMPARE, _ADD, _MUL, _UNARY, _ATOM = range(1, 9)
_SIMPLE_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def _precedence(node: Node) -> int:
    match node:
        case Logical(op="OR"):
            return _OR
        case Logical():
            return _AND
        case Not():
            return _NOT
        case Comparison() | InList() | Between() | IsNull():
            return _COMPARE
        case Arithmetic(op="+" | "-"):
            return _ADD
        case Arithmetic():
            return _MUL
        case Negate():
            return _UNARY
        case Literal(value=float() | int() as number) if number < 0:
            return _UNARY
        case _:
            return _ATOM


def _slot(node: Node, loosest: int) -> str:
    text = render(node)
    return f"({text})" if _precedence(node) < loosest else text


def quote_text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def render_literal(value: Value) -> str:
    """A literal as SQL text."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return quote_text(value)
    return repr(value)


def render_name(name: str) -> str:
    """A feature name, quoted only when it is not a plain lower-case identifier."""
    if _SIMPLE_NAME.fullmatch(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def render(node: Node) -> str:
    """The normalised SQL text of a checked tree."""
    match node:
        case Column(name=name):
            return render_name(name)
        case Literal(value=value):
            return render_literal(value)
        case Negate(operand=operand):
            inner = _slot(operand, _ATOM)
            return f"-{inner}"
        case Arithmetic(op=op, left=left, right=right) | Comparison(op=op, left=left, right=right):
            own = _precedence(node)
            right_slot = own + 1 if isinstance(node, Arithmetic) else _ADD
            left_slot = own if isinstance(node, Arithmetic) else _ADD
            return f"{_slot(left, left_slot)} {op} {_slot(right, right_slot)}"
        case Logical(op=op, left=left, right=right):
            own = _precedence(node)
            return f"{_slot(left, own)} {op} {_slot(right, own + 1)}"
        case Not(operand=operand):
            return f"NOT {_slot(operand, _UNARY)}"
        case InList(subject=subject, items=items, negated=negated):
            listed = ", ".join(render(item) for item in items)
            return f"{_slot(subject, _ADD)} {'NOT IN' if negated else 'IN'} ({listed})"
        case Between(subject=subject, low=low, high=high, negated=negated):
            word = "NOT BETWEEN" if negated else "BETWEEN"
            return f"{_slot(subject, _ADD)} {word} {_slot(low, _ADD)} AND {_slot(high, _ADD)}"
        case IsNull(subject=subject, negated=negated):
            return f"{_slot(subject, _ADD)} IS {'NOT NULL' if negated else 'NULL'}"
        case Case(whens=whens, default=default):
            parts = [f"WHEN {render(cond)} THEN {render(value)}" for cond, value in whens]
            if default is not None:
                parts.append(f"ELSE {render(default)}")
            return f"CASE {' '.join(parts)} END"
        case Call(name=name, args=args):
            return f"{name}({', '.join(render(arg) for arg in args)})"
    raise AssertionError(f"unhandled node {node!r}")
