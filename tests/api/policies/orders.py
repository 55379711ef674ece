"""Access policies of the orders routes.

An order belongs to its customer's record rules; the routes here get no customer in their
path, so they are checked with an order or customer nobody may see (404 past the role check).
tests/orders/test_api.py covers visible and hidden orders role by role.
"""

from __future__ import annotations

from tests.api.policy import Policy, everyone, only

WRITERS = ("admin", "manager", "agent")


def _order(n: int, customer_id: int = 0) -> dict[str, object]:
    return {
        "external_id": f"POLICY-{n}",
        "customer_id": customer_id,
        "ordered_at": "2024-06-01T10:00:00",
        "amount": "10.00",
    }


POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/api/v1/orders"): Policy(everyone(200)),
    ("GET", "/api/v1/orders/{order_id}"): Policy(
        everyone(404), path_params={"order_id": lambda w: 0}
    ),
    ("POST", "/api/v1/orders"): Policy(only(404, *WRITERS), body=lambda w, n: _order(n)),
    # Bulk ingestion creates unknown customers, so only roles that see every customer feed it.
    ("POST", "/api/v1/orders/bulk"): Policy(
        only(200, "admin"),
        body=lambda w, n: [_order(n) | {"customer_id": None, "customer_external_id": f"P{n}"}],  # type: ignore[dict-item,list-item,return-value]
    ),
}
