"""The safe functions a rule expression may call: type rule, Python meaning and DuckDB SQL.

Each function is defined once here so the DuckDB compilation and the Python evaluator agree,
NULLs included: a NULL argument gives NULL unless the function says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from patron.errors import RuleError
from patron.rules.nodes import NUMERIC, Arithmetic, Literal, Negate, Node, Type
from patron.rules.typecheck import require, unify

Compiler = Callable[[Node], str]
MAX_ROUND_DIGITS = 10


@dataclass(frozen=True)
class Function:
    """One allowed function."""

    name: str
    usage: str
    min_args: int
    max_args: int | None
    result: Callable[[str, Sequence[Node]], Type]
    python: Callable[[Sequence[Any]], Any]
    duckdb: Callable[[Sequence[Node], Compiler], str]


def as_double(node: Node, sql: Compiler) -> str:
    """SQL for a numeric part as DOUBLE, so DuckDB and Python do the same float arithmetic.

    Only arithmetic and decimal literals are known to be DOUBLE already: a column may hold
    BIGINT or DECIMAL whatever its kind, and DECIMAL arithmetic would not round like floats.
    """
    if isinstance(node, Arithmetic | Negate) or (
        isinstance(node, Literal) and isinstance(node.value, float)
    ):
        return sql(node)
    return f"CAST({sql(node)} AS DOUBLE)"


def _strict(impl: Callable[..., Any]) -> Callable[[Sequence[Any]], Any]:
    """A function that is NULL whenever any argument is NULL."""
    return lambda args: None if any(arg is None for arg in args) else impl(*args)


def _numbers_to_number(name: str, args: Sequence[Node]) -> Type:
    for arg in args:
        require(arg, NUMERIC, f"{name} needs a number")
    return Type.number


def _round_digits(args: Sequence[Node]) -> int:
    if len(args) == 1:
        return 0
    digits = args[1]
    if (
        isinstance(digits, Literal)
        and isinstance(digits.value, int)
        and not isinstance(digits.value, bool)
        and abs(digits.value) <= MAX_ROUND_DIGITS
    ):
        return digits.value
    raise RuleError(
        f"ROUND's second argument must be a whole number from -{MAX_ROUND_DIGITS} to "
        f"{MAX_ROUND_DIGITS}, like ROUND(clv, 2)"
    )


def _round_type(name: str, args: Sequence[Node]) -> Type:
    _round_digits(args)
    return _numbers_to_number(name, args[:1])


def _half_away_from_zero(value: float) -> float:
    whole = math.trunc(value)
    if abs(value - whole) >= 0.5:
        whole += 1 if value > 0 else -1
    return float(whole)


def _round(value: float, digits: int = 0) -> float:
    """DuckDB's ROUND on a double: scale, round half away from zero, scale back."""
    value = float(value)
    if digits >= 0:
        scaled = value * 10.0**digits
        return _half_away_from_zero(scaled) / 10.0**digits if math.isfinite(scaled) else value
    scaled = value / 10.0**-digits
    rounded = _half_away_from_zero(scaled) * 10.0**-digits if math.isfinite(scaled) else 0.0
    return rounded if math.isfinite(rounded) else 0.0


def _same_type(name: str, args: Sequence[Node]) -> Type:
    return unify(args, f"{name}(...)")


def _non_null(impl: Callable[[list[Any]], Any]) -> Callable[[Sequence[Any]], Any]:
    """A function over the non-NULL arguments only, NULL when there are none."""

    def apply(args: Sequence[Any]) -> Any:
        present = [arg for arg in args if arg is not None]
        return impl(present) if present else None

    return apply


def _text_to(result: Type) -> Callable[[str, Sequence[Node]], Type]:
    def check(name: str, args: Sequence[Node]) -> Type:
        require(args[0], {Type.text}, f"{name} needs text")
        return result

    return check


def _tag_test(name: str, args: Sequence[Node]) -> Type:
    require(args[0], {Type.tags}, f"{name} needs the tags feature first, like {name}(tags, 'vip')")
    for tag in args[1:]:
        require(tag, {Type.text}, f"{name} needs tag names as text, like {name}(tags, 'vip')")
    return Type.boolean


def _tag_count(name: str, args: Sequence[Node]) -> Type:
    require(args[0], {Type.tags}, f"{name} needs the tags feature, like {name}(tags)")
    return Type.integer


def _has_any_tag(args: Sequence[Any]) -> bool | None:
    tags, wanted = args[0], args[1:]
    if tags is None:
        return None
    if any(tag is not None and tag in tags for tag in wanted):
        return True
    return None if any(tag is None for tag in wanted) else False


def _sql_call(sql_name: str, *, double: bool = False) -> Callable[[Sequence[Node], Compiler], str]:
    def build(args: Sequence[Node], sql: Compiler) -> str:
        parts = [as_double(arg, sql) if double else sql(arg) for arg in args]
        return f"{sql_name}({', '.join(parts)})"

    return build


def _sql_round(args: Sequence[Node], sql: Compiler) -> str:
    return f"round({as_double(args[0], sql)}, {_round_digits(args)})"


def _sql_has_any_tag(args: Sequence[Node], sql: Compiler) -> str:
    tags = sql(args[0])
    tests = [f"list_contains({tags}, {sql(tag)})" for tag in args[1:]]
    return "(" + " OR ".join(tests) + ")"


def _sql_tag_count(args: Sequence[Node], sql: Compiler) -> str:
    # Count distinct tags so a list that repeats one counts it once, as the set does.
    return f"len(list_distinct({sql(args[0])}))"


_FUNCTIONS = (
    Function("ABS", "ABS(number)", 1, 1, _numbers_to_number,
             _strict(lambda x: abs(float(x))), _sql_call("abs", double=True)),
    Function("ROUND", "ROUND(number[, digits])", 1, 2, _round_type,
             _strict(_round), _sql_round),
    Function("FLOOR", "FLOOR(number)", 1, 1, _numbers_to_number,
             _strict(lambda x: float(math.floor(float(x)))), _sql_call("floor", double=True)),
    Function("CEIL", "CEIL(number)", 1, 1, _numbers_to_number,
             _strict(lambda x: float(math.ceil(float(x)))), _sql_call("ceil", double=True)),
    Function("LEAST", "LEAST(value, value, ...)", 2, None, _same_type,
             _non_null(min), _sql_call("least")),
    Function("GREATEST", "GREATEST(value, value, ...)", 2, None, _same_type,
             _non_null(max), _sql_call("greatest")),
    Function("COALESCE", "COALESCE(value, value, ...)", 1, None, _same_type,
             _non_null(lambda present: present[0]), _sql_call("coalesce")),
    Function("LOWER", "LOWER(text)", 1, 1, _text_to(Type.text),
             _strict(str.lower), _sql_call("lower")),
    Function("UPPER", "UPPER(text)", 1, 1, _text_to(Type.text),
             _strict(str.upper), _sql_call("upper")),
    Function("LENGTH", "LENGTH(text)", 1, 1, _text_to(Type.integer),
             _strict(len), _sql_call("length")),
    Function("HAS_TAG", "HAS_TAG(tags, tag)", 2, 2, _tag_test,
             _strict(lambda tags, tag: tag in tags), _sql_call("list_contains")),
    Function("HAS_ANY_TAG", "HAS_ANY_TAG(tags, tag, tag, ...)", 2, None, _tag_test,
             _has_any_tag, _sql_has_any_tag),
    Function("TAG_COUNT", "TAG_COUNT(tags)", 1, 1, _tag_count,
             _strict(lambda tags: len(set(tags))), _sql_tag_count),
)  # fmt: skip

FUNCTIONS: dict[str, Function] = {function.name: function for function in _FUNCTIONS}
