"""Evaluate a checked rule expression for one customer, with SQL's three-valued NULL logic.

This is the meaning of an expression: DuckDB compilation must agree with it row by row.
Arithmetic is float arithmetic; dividing by zero, or taking a remainder by zero, gives NULL.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from patron.errors import RuleError
from patron.rules.functions import FUNCTIONS
from patron.rules.nodes import (
    NUMERIC,
    Arithmetic,
    Between,
    Call,
    Case,
    CheckedExpression,
    Column,
    Comparison,
    InList,
    IsNull,
    Literal,
    Logical,
    Negate,
    Node,
    Not,
    Type,
    render,
)

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "<>": operator.ne, "<": operator.lt,
    "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip


def evaluate(checked: CheckedExpression, features: Mapping[str, Any]) -> bool | None:
    """True, False or None (NULL, which a rule treats as not matching) for one customer."""
    try:
        result = _value(checked.root, features)
    except (TypeError, ValueError, OverflowError) as exc:
        raise RuleError(f"cannot evaluate `{checked.normalised}` on these values: {exc}") from None
    if result is not None and not isinstance(result, bool):
        raise RuleError(f"`{checked.normalised}` gave {result!r}, not true or false")
    return result


def _feature(column: Column, features: Mapping[str, Any]) -> Any:
    if column.name not in features:
        raise RuleError(f"no value was given for the feature '{column.name}'")
    value = features[column.name]
    if hasattr(value, "item") and not isinstance(value, Iterable):
        value = value.item()  # a numpy scalar
    if isinstance(value, Decimal):
        value = float(value)  # DuckDB and SQL drivers give DECIMAL columns as Decimal
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if column.type is Type.tags:
        if isinstance(value, str) or not isinstance(value, Iterable):
            raise RuleError(f"the feature 'tags' should be a list of tags, not {value!r}")
        return tuple(str(tag) for tag in value if tag is not None)
    if column.type in NUMERIC and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise RuleError(f"the feature '{column.name}' should be a number, not {value!r}")
    if column.type is Type.boolean:
        # A database may hand back 0/1; three-valued logic needs real booleans.
        if value not in (0, 1):
            raise RuleError(f"the feature '{column.name}' should be true or false, not {value!r}")
        return bool(value)
    if column.type is Type.text and not isinstance(value, str):
        raise RuleError(f"the feature '{column.name}' should be text, not {value!r}")
    return value


def _and(left: bool | None, right: bool | None) -> bool | None:
    if left is False or right is False:
        return False
    return None if left is None or right is None else True


def _or(left: bool | None, right: bool | None) -> bool | None:
    if left is True or right is True:
        return True
    return None if left is None or right is None else False


def _not(value: bool | None) -> bool | None:
    return None if value is None else not value


def _compare(op: str, left: Any, right: Any) -> bool | None:
    return None if left is None or right is None else _COMPARE[op](left, right)


def _arithmetic(op: str, left: Any, right: Any) -> float | None:
    if left is None or right is None:
        return None
    a, b = float(left), float(right)
    if op in "/%" and b == 0:
        return None
    match op:
        case "+":
            return a + b
        case "-":
            return a - b
        case "*":
            return a * b
        case "/":
            return a / b
    return math.fmod(a, b)  # SQL's remainder takes the sign of the dividend


def _in(subject: Any, items: list[Any]) -> bool | None:
    if subject is None:
        return None
    if any(item is not None and item == subject for item in items):
        return True
    return None if any(item is None for item in items) else False


def _case(node: Case, features: Mapping[str, Any]) -> Any:
    for condition, value in node.whens:
        if _value(condition, features) is True:
            return _value(value, features)
    return None if node.default is None else _value(node.default, features)


def _value(node: Node, features: Mapping[str, Any]) -> Any:
    match node:
        case Column():
            return _feature(node, features)
        case Literal(value=value):
            return value
        case Negate(operand=operand):
            value = _value(operand, features)
            return None if value is None else -float(value)
        case Arithmetic(op=op, left=left, right=right):
            return _arithmetic(op, _value(left, features), _value(right, features))
        case Comparison(op=op, left=left, right=right):
            return _compare(op, _value(left, features), _value(right, features))
        case Logical(op=op, left=left, right=right):
            combine = _and if op == "AND" else _or
            return combine(_value(left, features), _value(right, features))
        case Not(operand=operand):
            return _not(_value(operand, features))
        case InList(subject=subject, items=items, negated=negated):
            found = _in(_value(subject, features), [_value(item, features) for item in items])
            return _not(found) if negated else found
        case Between(subject=subject, low=low, high=high, negated=negated):
            value = _value(subject, features)
            inside = _and(
                _compare(">=", value, _value(low, features)),
                _compare("<=", value, _value(high, features)),
            )
            return _not(inside) if negated else inside
        case IsNull(subject=subject, negated=negated):
            return (_value(subject, features) is None) is not negated
        case Case():
            return _case(node, features)
        case Call(name=name, args=args):
            return FUNCTIONS[name].python([_value(arg, features) for arg in args])
    raise AssertionError(f"unhandled node {render(node)}")
