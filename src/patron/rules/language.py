"""Rule expressions: parse with sqlglot, accept only a whitelist of node kinds, type-check.

`check` turns text into a `CheckedExpression` (a small typed tree, see `nodes`), or raises a
`RuleError` naming the offending part. `compile_duckdb` and `evaluate` take only checked trees.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from rapidfuzz import fuzz, process
from sqlglot import exp

from patron.analytics.catalog import FEATURES, FeatureKind
from patron.errors import RuleError
from patron.rules.compile import compile_duckdb
from patron.rules.evaluate import evaluate
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
    describe,
    render,
)
from patron.rules.parse import parse, snippet
from patron.rules.typecheck import quoted, require, unify

__all__ = ["CheckedExpression", "check", "compile_duckdb", "evaluate"]

MAX_LENGTH = 4000
MAX_DEPTH = 100
MAX_EXACT_INTEGER = 2**53  # beyond this a whole number is held as a float, as DuckDB would

_COMPARISONS: dict[type[exp.Expr], str] = {
    exp.EQ: "=", exp.NEQ: "<>", exp.LT: "<", exp.LTE: "<=", exp.GT: ">", exp.GTE: ">=",
}  # fmt: skip
_ARITHMETIC: dict[type[exp.Expr], str] = {
    exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.Mod: "%",
}  # fmt: skip
_LOGICAL: dict[type[exp.Expr], str] = {exp.And: "AND", exp.Or: "OR"}
_BUILT_IN_CALLS: dict[type[exp.Expr], str] = {
    exp.Abs: "ABS", exp.Round: "ROUND", exp.Floor: "FLOOR", exp.Ceil: "CEIL",
    exp.Least: "LEAST", exp.Greatest: "GREATEST", exp.Coalesce: "COALESCE",
    exp.Lower: "LOWER", exp.Upper: "UPPER", exp.Length: "LENGTH",
}  # fmt: skip
# The parts of each accepted sqlglot node that we read; anything else set on it is refused.
_READ_ARGS: dict[type[exp.Expr], frozenset[str]] = {
    exp.Round: frozenset({"this", "decimals"}),
    exp.Least: frozenset({"this", "expressions", "ignore_nulls"}),
    exp.Greatest: frozenset({"this", "expressions", "ignore_nulls"}),
    exp.In: frozenset({"this", "expressions"}),
    exp.Between: frozenset({"this", "low", "high"}),
    exp.Case: frozenset({"this", "ifs", "default"}),
    exp.Column: frozenset({"this", "table", "db", "catalog"}),
    exp.If: frozenset({"this", "true"}),
    exp.Literal: frozenset({"this", "is_string"}),
}
_ACCEPTED = frozenset(
    {exp.Paren, exp.Column, exp.Literal, exp.Boolean, exp.Null, exp.Neg, exp.Not, exp.In}
    | {exp.Between, exp.Is, exp.Case, exp.Anonymous}
    | _COMPARISONS.keys()
    | _ARITHMETIC.keys()
    | _LOGICAL.keys()
    | _BUILT_IN_CALLS.keys()
)
_STATEMENT_MODULES = ("sqlglot.expressions.ddl", "sqlglot.expressions.dml")
_DEFAULT_ARGS = frozenset({"this", "expression", "expressions"})
_REFUSED: dict[type[exp.Expr], str] = {
    exp.Subquery: "a subquery",
    exp.Exists: "a subquery (EXISTS)",
    exp.Window: "a window function (OVER)",
    exp.Star: "`*` (every column)",
    exp.Cast: "a type cast",
    exp.Placeholder: "a parameter placeholder",
    exp.Alias: "an alias (AS, or two words in a row)",
    exp.Dot: "a dotted name or method call",
    exp.Is: "IS other than IS [NOT] NULL",
}


def _source(node: exp.Expr) -> str:
    return snippet(node.sql(normalize_functions=False))


def _nearest(name: str, choices: Iterable[str]) -> str:
    best = process.extractOne(name, list(choices), scorer=fuzz.ratio, score_cutoff=70)
    return f"; did you mean '{best[0]}'?" if best else ""


class _Checker:
    """Converts one parsed tree into checked nodes, refusing whatever is not whitelisted."""

    def __init__(self, scope: Mapping[str, Type]) -> None:
        self.scope = scope
        self.used: set[str] = set()
        self.depth = 0

    def convert(self, node: exp.Expr) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise RuleError(f"the expression is nested more than {MAX_DEPTH} levels deep")
        try:
            if type(node) not in _ACCEPTED:
                raise _refusal(node)
            self._refuse_unread_parts(node)
            return self._convert(node)
        finally:
            self.depth -= 1

    def _refuse_unread_parts(self, node: exp.Expr) -> None:
        read = _READ_ARGS.get(type(node), _DEFAULT_ARGS)
        for key, value in node.args.items():
            if key not in read and value not in (None, False, []):
                raise RuleError(f"`{_source(node)}`: the {key.upper()} part is not allowed")

    def _convert(self, node: exp.Expr) -> Node:
        kind = type(node)
        if kind is exp.Paren:
            return self.convert(node.this)
        if kind is exp.Column:
            return self._column(node)
        if kind in (exp.Literal, exp.Boolean, exp.Null):
            return _literal(node)
        if kind is exp.Neg:
            return self._negate(node)
        if kind in _ARITHMETIC:
            return self._arithmetic(_ARITHMETIC[kind], node)
        if kind in _COMPARISONS:
            return self._comparison(_COMPARISONS[kind], node.this, node.expression)
        if kind in _LOGICAL:
            return self._logical(_LOGICAL[kind], node)
        if kind is exp.Not:
            return self._not(node.this)
        if kind is exp.In:
            return self._in(node)
        if kind is exp.Between:
            return self._between(node)
        if kind is exp.Is:
            if not isinstance(node.expression, exp.Null):
                raise _refusal(node)
            return IsNull(self.convert(node.this))
        if kind is exp.Case:
            return self._case(node)
        return self._call(node)

    def _column(self, node: exp.Expr) -> Node:
        if node.args.get("table") or node.args.get("db") or node.args.get("catalog"):
            raise RuleError(
                f"`{_source(node)}`: write the feature name alone, without a table name"
            )
        identifier = node.this
        if not isinstance(identifier, exp.Identifier):
            raise _refusal(identifier)
        name = identifier.this if identifier.quoted else identifier.this.lower()
        if name not in self.scope:
            hint = _nearest(name, self.scope)
            if identifier.quoted and not hint:
                hint = f"; text values go in single quotes, like '{name}'"
            raise RuleError(f"unknown feature '{name}'{hint}")
        self.used.add(name)
        return Column(name, self.scope[name])

    def _negate(self, node: exp.Expr) -> Node:
        operand = self.convert(node.this)
        number = operand.value if isinstance(operand, Literal) else None
        if isinstance(number, int | float) and not isinstance(number, bool):
            return Literal(-number, operand.type)
        require(operand, NUMERIC, "a minus sign needs a number")
        return Negate(operand)

    def _arithmetic(self, op: str, node: exp.Expr) -> Node:
        left, right = self.convert(node.this), self.convert(node.expression)
        for side in (left, right):
            require(side, NUMERIC, f"arithmetic ({op}) needs numbers")
        return Arithmetic(op, left, right)

    def _comparison(self, op: str, left_node: exp.Expr, right_node: exp.Expr) -> Node:
        left, right = self.convert(left_node), self.convert(right_node)
        made = Comparison(op, left, right)
        unify([left, right], f"the comparison {quoted(made)}")
        return made

    def _logical(self, op: str, node: exp.Expr) -> Node:
        left, right = self.convert(node.this), self.convert(node.expression)
        for side in (left, right):
            require(side, {Type.boolean}, f"{op} needs conditions (true or false) on both sides")
        return Logical(op, left, right)

    def _not(self, inner: exp.Expr) -> Node:
        operand = self.convert(inner)
        if isinstance(operand, InList | Between | IsNull):
            return replace(operand, negated=not operand.negated)
        require(operand, {Type.boolean}, "NOT needs a condition (true or false)")
        return Not(operand)

    def _in(self, node: exp.Expr) -> Node:
        subject = self.convert(node.this)
        items = tuple(self.convert(item) for item in node.expressions)
        made = InList(subject, items)
        if not items:
            raise RuleError(f"`{_source(node)}`: the IN list is empty")
        unify([subject, *items], f"the test {quoted(made)}")
        return made

    def _between(self, node: exp.Expr) -> Node:
        parts = [self.convert(node.args[key]) for key in ("this", "low", "high")]
        made = Between(parts[0], parts[1], parts[2])
        unify(parts, f"the test {quoted(made)}")
        return made

    def _case(self, node: exp.Expr) -> Node:
        subject = node.this
        whens: list[tuple[Node, Node]] = []
        for branch in node.args.get("ifs") or []:
            if not isinstance(branch, exp.If):
                raise _refusal(branch)
            self._refuse_unread_parts(branch)
            if subject is not None:  # CASE x WHEN v THEN ... means WHEN x = v THEN ...
                condition = self._comparison("=", subject, branch.this)
            else:
                condition = self.convert(branch.this)
                require(condition, {Type.boolean}, "WHEN needs a condition (true or false)")
            whens.append((condition, self.convert(branch.args["true"])))
        default = node.args.get("default")
        otherwise = self.convert(default) if default is not None else None
        values = [value for _, value in whens] + ([otherwise] if otherwise else [])
        made = Case(tuple(whens), otherwise, Type.any)
        return Case(tuple(whens), otherwise, unify(values, f"the CASE {quoted(made)}"))

    def _call(self, node: exp.Expr) -> Node:
        if isinstance(node, exp.Anonymous):
            name, raw_args = str(node.this).upper(), list(node.expressions)
            if name not in FUNCTIONS:
                raise RuleError(f"unknown function '{node.this}'{_nearest(name, FUNCTIONS)}")
        else:
            name = _BUILT_IN_CALLS[type(node)]
            raw_args = [node.this, *node.expressions]
            if node.args.get("decimals") is not None:
                raw_args.append(node.args["decimals"])
        function = FUNCTIONS[name]
        too_many = function.max_args is not None and len(raw_args) > function.max_args
        if len(raw_args) < function.min_args or too_many:
            raise RuleError(f"`{_source(node)}`: use it as {function.usage}")
        args = tuple(self.convert(arg) for arg in raw_args)
        return Call(name, args, function.result(name, args))


def _literal(node: exp.Expr) -> Literal:
    if isinstance(node, exp.Null):
        return Literal(None, Type.null)
    if isinstance(node, exp.Boolean):
        return Literal(bool(node.this), Type.boolean)
    text = str(node.this)
    if node.is_string:
        return Literal(text, Type.text)
    if text.isdigit() and int(text) <= MAX_EXACT_INTEGER:
        return Literal(int(text), Type.integer)
    try:
        number = float(text)
    except ValueError:
        raise RuleError(f"`{text}` is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise RuleError(f"the number {text} is too large")
    return Literal(number, Type.number)


def _refusal(node: exp.Expr) -> RuleError:
    snippet = _source(node)
    for kind, words in _REFUSED.items():
        if isinstance(node, kind):
            return RuleError(f"`{snippet}`: {words} is not allowed")
    if isinstance(node, exp.Query) or type(node).__module__ in _STATEMENT_MODULES:
        return RuleError(f"`{snippet}`: queries and statements are not allowed, only a condition")
    if isinstance(node, exp.Func):
        allowed = ", ".join(FUNCTIONS)
        return RuleError(f"`{snippet}`: {node.sql_name()} is not an allowed function ({allowed})")
    return RuleError(f"`{snippet}` is not allowed in a rule expression ({node.key.upper()})")


def _scope(allowed: Iterable[str] | Mapping[str, FeatureKind | str] | None) -> dict[str, Type]:
    scope = {name: Type(feature.kind.value) for name, feature in FEATURES.items()}
    if isinstance(allowed, Mapping):
        scope |= {name: Type(FeatureKind(kind).value) for name, kind in allowed.items()}
    elif allowed is not None:
        scope |= {name: Type.any for name in allowed if name not in scope}
    return scope


def check(
    expression: str,
    *,
    allowed: Iterable[str] | Mapping[str, FeatureKind | str] | None = None,
) -> CheckedExpression:
    """Check a rule expression; names are the catalogue's plus `allowed` (typed if a mapping)."""
    text = expression.strip()
    if not text:
        raise RuleError("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise RuleError(f"the expression is longer than {MAX_LENGTH} characters")
    checker = _Checker(_scope(allowed))
    try:
        root = checker.convert(parse(text))
    except RecursionError:
        raise RuleError("the expression is nested too deeply") from None
    if root.type not in (Type.boolean, Type.any):
        raise RuleError(
            f"the expression must be a condition (true or false), but `{render(root)}` is "
            f"{describe(root.type)}"
        )
    return CheckedExpression(source=text, root=root, features=frozenset(checker.used))
