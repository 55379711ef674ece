"""Access policies of the analytics routes."""

from __future__ import annotations

from tests.api.policy import Policy, customer_read, everyone

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/api/v1/customers/{customer_id}/scores"): Policy(customer_read(200)),
    # Every role reads KPIs over the customers it may see (tests/analytics/test_kpi_api.py).
    ("GET", "/api/v1/kpi"): Policy(everyone(200)),
}
