"""Evaluating a rulebook over the feature table in DuckDB: grades, stages, segments, warnings,
care reminders and pool recycling, each with the rule and values that decided it.

The result is the DuckDB table `decisions`, one row per customer. Nothing here writes to the
store: `rules.actions` turns decisions into tasks, alerts, tags and ownership moves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import duckdb

from patron.analytics.occasions import festival_days_until
from patron.errors import RuleError
from patron.rules.compile import literal_sql
from patron.rules.language import CheckedExpression, check, compile_duckdb
from patron.rules.rulebook import Grade, Rulebook

_LATER = {"grades": {"grade", "stage"}, "stages": {"stage"}}


@dataclass(frozen=True)
class Compiled:
    """A rule's id, its DuckDB condition, the features it reads (for explanations) and the
    checked expression (None: the rule always holds), which decides a single row in Python."""

    id: str
    sql: str
    features: tuple[str, ...]
    checked: CheckedExpression | None = None


def _compile(section: str, rule_id: str, expression: str | None) -> Compiled:
    if expression is None:
        return Compiled(rule_id, "TRUE", ())
    try:
        checked: CheckedExpression = check(expression)
    except RuleError as exc:
        raise RuleError(f"{section} '{rule_id}': {exc.message}") from exc
    too_early = sorted(checked.features & _LATER.get(section, set()))
    if too_early:
        raise RuleError(
            f"{section} '{rule_id}': `{too_early[0]}` is decided after {section}, so it cannot "
            f"be used here"
        )
    return Compiled(
        rule_id, f"({compile_duckdb(checked)})", tuple(sorted(checked.features)), checked
    )


def check_rulebook(rulebook: Rulebook) -> None:
    """Check every expression in the rulebook; raise the first problem found."""
    compile_rulebook(rulebook)


@dataclass(frozen=True)
class CompiledRulebook:
    grades: list[Compiled]
    stages: list[Compiled]
    segments: list[Compiled]
    warnings: list[Compiled]
    care: list[Compiled]


_compiled: dict[int, tuple[Rulebook, CompiledRulebook]] = {}


def compile_rulebook(rulebook: Rulebook) -> CompiledRulebook:
    """Every expression checked and compiled, section by section (remembered per rulebook)."""
    known = _compiled.get(id(rulebook))
    if known is not None and known[0] is rulebook:
        return known[1]
    compiled = _compile_all(rulebook)
    if len(_compiled) > 64:
        _compiled.clear()
    _compiled[id(rulebook)] = (rulebook, compiled)
    return compiled


def _compile_all(rulebook: Rulebook) -> CompiledRulebook:
    for grade in rulebook.grades:
        if grade.quantile is not None:
            _compile("grades", grade.id, f"{grade.quantile.score} IS NULL")
    return CompiledRulebook(
        grades=[_compile("grades", g.id, g.when) for g in rulebook.grades],
        stages=[_compile("stages", s.id, s.when) for s in rulebook.stages],
        segments=[_compile("segments", s.id, s.when) for s in rulebook.segments],
        warnings=[_compile("warnings", w.id, w.when) for w in rulebook.warnings],
        care=[_compile("care", c.id, c.when) for c in rulebook.care],
    )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _values(rule: Compiled) -> str:
    if not rule.features:
        return "json_object()"
    return "json_object(" + ", ".join(f"{_quote(name)}, {name}" for name in rule.features) + ")"


def _first_match(rules: list[Compiled], conditions: list[str], column: str) -> str:
    """`column` (the first matching id) and `column_values` (what that rule read)."""
    ids = " ".join(f"WHEN {c} THEN {_quote(r.id)}" for r, c in zip(rules, conditions, strict=True))
    values = " ".join(f"WHEN {c} THEN {_values(r)}" for r, c in zip(rules, conditions, strict=True))
    return f"CASE {ids} END AS {column}, CASE {values} END AS {column}_values"


def _fired(rules: list[Compiled], conditions: list[str], column: str) -> str:
    """`column`: the ids whose condition holds; `column_values`: a JSON map id -> values read.

    The map is written as text, one `"id":{values}` entry per rule that holds, joined by
    `concat_ws` (which skips the NULLs of rules that do not): the same JSON as building a
    MAP and converting it, at a fraction of the cost over a million rows.
    """
    if not rules:
        return f"[]::VARCHAR[] AS {column}, json_object() AS {column}_values"
    ids = ", ".join(
        f"CASE WHEN {c} THEN {_quote(r.id)} END" for r, c in zip(rules, conditions, strict=True)
    )
    entries = ", ".join(
        f"CASE WHEN {c} THEN {_quote(json.dumps(r.id) + ':')} || {_values(r)} END"
        for r, c in zip(rules, conditions, strict=True)
    )
    return (
        f"list_filter([{ids}], lambda x: x IS NOT NULL) AS {column}, "
        f"('{{' || concat_ws(',', {entries}) || '}}')::JSON AS {column}_values"
    )


def _quantile_ranking(grade: Grade, rule: Compiled) -> tuple[str, str]:
    """The rows a quantile grade ranks (its condition holds, its score is known), and the score."""
    assert grade.quantile is not None
    score = grade.quantile.score
    return f"(coalesce({rule.sql}, FALSE) AND {score} IS NOT NULL)", score


def grade_conditions(rulebook: Rulebook, compiled: CompiledRulebook) -> tuple[list[str], list[str]]:
    """Conditions per grade, and the quantile columns (cume_dist among eligible rows) they use.

    `evaluate` decides the same grades from score thresholds instead (`_threshold_conditions`);
    this form, one window per quantile grade, is the one engines without a cheap first pass
    (Spark) run.
    """
    conditions, windows = [], []
    for index, (grade, rule) in enumerate(zip(rulebook.grades, compiled.grades, strict=True)):
        if grade.quantile is None:
            conditions.append(rule.sql)
            continue
        eligible, score = _quantile_ranking(grade, rule)
        windows.append(
            f"CASE WHEN {eligible} THEN cume_dist() OVER (PARTITION BY {eligible} "
            f"ORDER BY {score} DESC) END AS _q{index}"
        )
        conditions.append(f"({rule.sql} AND _q{index} <= {grade.quantile.top})")
    return conditions, windows


def _threshold_conditions(
    rulebook: Rulebook, compiled: CompiledRulebook, con: duckdb.DuckDBPyConnection, source: str
) -> list[str]:
    """Conditions per grade, each quantile turned into a score threshold found beforehand.

    Among the ranked rows, cume_dist (highest score first) only grows as the score falls, so
    "cume_dist <= top" holds exactly for the rows whose score is at least the lowest score
    that still has cume_dist <= top. That score comes from one sort of the score column alone
    (shared by grades that rank the same rows by the same score), where a window over the
    whole feature table would sort every column along with it. No such score: NULL, no row.
    """
    rankings: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for index, (grade, rule) in enumerate(zip(rulebook.grades, compiled.grades, strict=True)):
        if grade.quantile is not None:
            ranked = rankings.setdefault(_quantile_ranking(grade, rule), [])
            ranked.append((index, grade.quantile.top))
    thresholds: dict[int, object] = {}
    for (eligible, score), grades in rankings.items():
        lowest = ", ".join(f"min({score}) FILTER (WHERE _q <= {top})" for _, top in grades)
        found = con.execute(
            f"SELECT {lowest} FROM (SELECT {score}, cume_dist() OVER (ORDER BY {score} DESC) "
            f"AS _q FROM {source} WHERE {eligible})"
        ).fetchone()
        thresholds.update(zip((index for index, _ in grades), found or (), strict=True))
    return [
        rule.sql
        if grade.quantile is None
        else f"({rule.sql} AND {grade.quantile.score} >= {literal_sql(thresholds[index])})"
        for index, (grade, rule) in enumerate(zip(rulebook.grades, compiled.grades, strict=True))
    ]


def _care_condition(rulebook: Rulebook, index: int, sql: str, today: date) -> str:
    care = rulebook.care[index]
    if care.occasion == "birthday":
        return f"({sql} AND days_to_birthday <= {care.days_ahead})"
    if care.occasion == "anniversary":
        return f"({sql} AND days_to_anniversary <= {care.days_ahead})"
    soon = any(festival_days_until(f, today) <= care.days_ahead for f in care.festivals)
    return f"({sql} AND {'TRUE' if soon else 'FALSE'})"


def _recycle_condition(rulebook: Rulebook, warn: bool) -> str:
    pool = rulebook.pool
    early = pool.warn_days_before if warn else 0
    quiet_since = "least(coalesce(days_since_follow_up, days_owned), days_owned)"
    parts = []
    for rule in pool.recycle:
        grades = ", ".join(_quote(g) for g in rule.grades) or "NULL"
        parts.append(
            f"(grade IN ({grades}) AND {quiet_since} >= {rule.no_follow_up_days - early} "
            f"AND coalesce(recency_days, 1e9) >= {rule.no_purchase_days - early})"
        )
    if not parts:
        return "FALSE"
    exempt = ", ".join(_quote(g) for g in pool.exempt_grades) or "NULL"
    locked = "AND NOT locked" if pool.exempt_locked else ""
    return (
        f"coalesce(NOT in_pool AND days_owned IS NOT NULL {locked} "
        f"AND coalesce(grade NOT IN ({exempt}), TRUE) AND ({' OR '.join(parts)}), FALSE)"
    )


def _states(
    rulebook: Rulebook,
    compiled: CompiledRulebook,
    con: duckdb.DuckDBPyConnection,
    source: str,
    keep_states: bool,
) -> str:
    """`source` with `grade` and `stage` (and what decided them) added, as a subquery."""
    if keep_states:
        graded = f"SELECT *, current_grade AS grade, NULL AS grade_values FROM {source}"
        return f"SELECT *, current_stage AS stage, NULL AS stage_values FROM ({graded})"
    conditions = _threshold_conditions(rulebook, compiled, con, source)
    graded = f"SELECT *, {_first_match(compiled.grades, conditions, 'grade')} FROM {source}"
    stage_conditions = [rule.sql for rule in compiled.stages]
    return f"SELECT *, {_first_match(compiled.stages, stage_conditions, 'stage')} FROM ({graded})"


def evaluate(
    rulebook: Rulebook,
    con: duckdb.DuckDBPyConnection,
    today: date,
    *,
    source: str = "features",
    target: str = "decisions",
    keep_states: bool = False,
) -> None:
    """Decide every customer's grade, stage, segments, warnings, care and recycling.

    One statement reads the feature table once and writes only the decisions: grade, then
    stage, then the rest, each a projection over the one before (DuckDB keeps the columns
    they read and nothing else). With `keep_states` (one customer on an event) grades and
    stages stay as the last batch run left them: a quantile grade means nothing for a single
    row.
    """
    compiled = compile_rulebook(rulebook)
    care_conditions = [
        _care_condition(rulebook, i, rule.sql, today) for i, rule in enumerate(compiled.care)
    ]
    con.execute(
        f"CREATE OR REPLACE TABLE {target} AS SELECT customer_id, grade, grade_values, stage, "
        f"stage_values, "
        f"{_fired(compiled.segments, [r.sql for r in compiled.segments], 'segments')}, "
        f"{_fired(compiled.warnings, [r.sql for r in compiled.warnings], 'warnings')}, "
        f"{_fired(compiled.care, care_conditions, 'care')}, "
        f"{_recycle_condition(rulebook, warn=False)} AS recycle, "
        f"{_recycle_condition(rulebook, warn=True)} AS recycle_soon "
        f"FROM ({_states(rulebook, compiled, con, source, keep_states)}) ORDER BY customer_id"
    )
