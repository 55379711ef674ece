"""Access policies of the customers routes."""

from __future__ import annotations

from tests.api.policy import Policy, customer_read, customer_write, everyone, only

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/api/v1/customers"): Policy(everyone(200)),
    ("POST", "/api/v1/customers"): Policy(
        only(201, "admin", "manager", "agent"), body=lambda w, n: {"name": f"新客户{n}"}
    ),
    ("GET", "/api/v1/customers/{customer_id}"): Policy(customer_read(200)),
    ("PATCH", "/api/v1/customers/{customer_id}"): Policy(
        customer_write(200, agent=True), body=lambda w, n: {"city": f"城市{n}"}
    ),
    ("POST", "/api/v1/customers/{customer_id}/unmask"): Policy(customer_write(200, agent=False)),
    ("POST", "/api/v1/customers/{customer_id}/owner"): Policy(
        customer_write(200, agent=False), body=lambda w, n: {"owner_id": w.users["agent"].id}
    ),
}
