"""One customer's warnings decided in Python, for event runs.

The batch path compiles each checked expression to DuckDB SQL. An event concerns one row,
where building DuckDB tables costs far more than the rules themselves, so the same checked
expressions are evaluated here by `rules.evaluate`, the reference meaning of the language that
the DuckDB compilation is property-tested against. Grades and stages stay as the last batch
run left them (a quantile grade means nothing for a single row), as in `engine.evaluate` with
`keep_states`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from patron.rules.engine import compile_rulebook
from patron.rules.evaluate import evaluate
from patron.rules.rulebook import Rulebook


@dataclass
class WarningDecisions:
    """The warnings that hold for the customer, in rulebook order, and the values each read."""

    fired: list[str] = field(default_factory=list)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)


def with_kept_states(features: Mapping[str, Any]) -> dict[str, Any]:
    """The feature row as rules see it on an event: grade and stage from the last batch run."""
    return {**features, "grade": features["current_grade"], "stage": features["current_stage"]}


def decide_warnings(rulebook: Rulebook, features: Mapping[str, Any]) -> WarningDecisions:
    """Evaluate every warning of the rulebook for one customer's features (NULL: not fired)."""
    decided = WarningDecisions()
    for rule in compile_rulebook(rulebook).warnings:
        if rule.checked is None or evaluate(rule.checked, features) is True:
            decided.fired.append(rule.id)
            decided.values[rule.id] = {name: features[name] for name in rule.features}
    return decided
