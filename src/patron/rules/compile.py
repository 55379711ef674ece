"""Compile a checked rule expression to DuckDB SQL over a table whose columns are features.

Every part is parenthesised and arithmetic runs on DOUBLE, so the SQL means exactly what the
Python evaluator computes; division and remainder by zero give NULL, as in `evaluate`.
"""

from __future__ import annotations

from patron.rules.functions import FUNCTIONS, as_double
from patron.rules.nodes import (
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
    quote_text,
)


def compile_duckdb(checked: CheckedExpression) -> str:
    """DuckDB SQL for the expression, usable in WHERE or SELECT over a features table."""
    return _sql(checked.root)


def literal_sql(value: object) -> str:
    """A Python value as the DuckDB literal of the same value and type (floats stay DOUBLE)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return quote_text(value)
    if isinstance(value, int):
        return str(value) if value >= 0 else f"({value})"
    # A decimal literal would be DECIMAL in DuckDB; the float's own digits make it DOUBLE.
    return f"CAST('{value!r}' AS DOUBLE)"


def _sql(node: Node) -> str:
    match node:
        case Column(name=name):
            return '"' + name.replace('"', '""') + '"'
        case Literal(value=value):
            return literal_sql(value)
        case Negate(operand=operand):
            return f"(- {as_double(operand, _sql)})"
        case Arithmetic(op="/" | "%" as op, left=left, right=right):
            return f"({as_double(left, _sql)} {op} NULLIF({as_double(right, _sql)}, 0))"
        case Arithmetic(op=op, left=left, right=right):
            return f"({as_double(left, _sql)} {op} {as_double(right, _sql)})"
        case Comparison(op=op, left=left, right=right) | Logical(op=op, left=left, right=right):
            return f"({_sql(left)} {op} {_sql(right)})"
        case Not(operand=operand):
            return f"(NOT {_sql(operand)})"
        case InList(subject=subject, items=items, negated=negated):
            listed = ", ".join(_sql(item) for item in items)
            return f"({_sql(subject)} {'NOT IN' if negated else 'IN'} ({listed}))"
        case Between(subject=subject, low=low, high=high, negated=negated):
            word = "NOT BETWEEN" if negated else "BETWEEN"
            return f"({_sql(subject)} {word} {_sql(low)} AND {_sql(high)})"
        case IsNull(subject=subject, negated=negated):
            return f"({_sql(subject)} IS {'NOT NULL' if negated else 'NULL'})"
        case Case(whens=whens, default=default):
            parts = [f"WHEN {_sql(cond)} THEN {_sql(value)}" for cond, value in whens]
            if default is not None:
                parts.append(f"ELSE {_sql(default)}")
            return f"(CASE {' '.join(parts)} END)"
        case Call(name=name, args=args):
            return FUNCTIONS[name].duckdb(args, _sql)
    raise AssertionError(f"unhandled node {node!r}")
