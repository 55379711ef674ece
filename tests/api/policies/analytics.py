"""Access policies of the analytics routes."""

from __future__ import annotations

from tests.api.policy import Policy, customer_read, only

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/api/v1/customers/{customer_id}/scores"): Policy(customer_read(200)),
    ("GET", "/api/v1/kpi"): Policy(only(200, "admin", "analyst")),
}
