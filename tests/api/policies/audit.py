"""Access policies of the audit routes."""

from __future__ import annotations

from tests.api.policy import Policy, only

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/api/v1/audit"): Policy(only(200, "admin")),
}
