"""Access policies of the customers routes."""

from __future__ import annotations

from tests.api.policy import Policy, _customer_read, _customer_write, _everyone, _only

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/api/v1/customers"): Policy(_everyone(200)),
    ("POST", "/api/v1/customers"): Policy(
        _only(201, "admin", "manager", "agent"), body=lambda w, n: {"name": f"新客户{n}"}
    ),
    ("GET", "/api/v1/customers/{customer_id}"): Policy(_customer_read(200)),
    ("PATCH", "/api/v1/customers/{customer_id}"): Policy(
        _customer_write(200, agent=True), body=lambda w, n: {"city": f"城市{n}"}
    ),
    ("POST", "/api/v1/customers/{customer_id}/unmask"): Policy(_customer_write(200, agent=False)),
    ("POST", "/api/v1/customers/{customer_id}/owner"): Policy(
        _customer_write(200, agent=False), body=lambda w, n: {"owner_id": w.users["agent"].id}
    ),
}
