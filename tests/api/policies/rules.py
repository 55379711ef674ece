"""Access policies of the rules routes: admins, managers and analysts read and try rules;
only admins apply a new version."""

from __future__ import annotations

from patron.rules.rulebook import default_text
from tests.api.policy import Policy, only

READERS = ("admin", "manager", "analyst")

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/api/v1/rules"): Policy(only(200, *READERS)),
    ("POST", "/api/v1/rules/check"): Policy(
        only(200, *READERS), body=lambda w, n: {"document": default_text()}
    ),
    ("POST", "/api/v1/rules/check-expr"): Policy(
        only(200, *READERS), body=lambda w, n: {"expression": "recency_days > 90"}
    ),
    ("POST", "/api/v1/rules/dry-run"): Policy(
        only(200, *READERS), body=lambda w, n: {"document": default_text()}
    ),
    ("POST", "/api/v1/rules/backtest"): Policy(
        only(200, *READERS), body=lambda w, n: {"as_of": "2024-03-01", "until": "2024-06-01"}
    ),
    ("POST", "/api/v1/rules/apply"): Policy(
        only(201, "admin"), body=lambda w, n: {"document": default_text(), "note": f"v{n}"}
    ),
}
