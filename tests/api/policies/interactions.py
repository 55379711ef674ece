"""Access policies of the interaction routes.

Logging an interaction names its customer in the body, so the generated case uses a customer
nobody may see (404 past the role check); tests/engagement/test_interactions_api.py covers
own, another's and pool customers.
"""

from __future__ import annotations

from tests.api.policy import Policy, customer_read, everyone, only

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/api/v1/interactions"): Policy(everyone(200)),
    ("GET", "/api/v1/customers/{customer_id}/interactions"): Policy(customer_read(200)),
    ("POST", "/api/v1/interactions"): Policy(
        only(404, "admin", "manager", "agent"),
        body=lambda w, n: {"customer_id": 0, "kind": "call", "summary": f"call {n}"},
    ),
}
