"""Access policies of the rules routes."""

from __future__ import annotations

from tests.api.policy import Policy, only

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/api/v1/rules"): Policy(only(200, "admin", "manager", "analyst")),
    ("POST", "/api/v1/rules/check"): Policy(
        only(200, "admin", "manager", "analyst"),
        body=lambda w, n: {"expression": "recency_days > 90"},
    ),
}
