"""Access policies of the loyalty routes."""

from __future__ import annotations

from tests.api.policy import Policy, customer_read, customer_write, everyone, records

# The records hold no points: a permitted redemption reaches the balance check (409).
_REDEEM = {
    "anonymous": 401,
    "admin": 409,
    "manager": records(409, 404, 409),
    "agent": records(409, 404, 403),
    "analyst": 403,
}
_ADJUST = {
    "anonymous": 401,
    "admin": 200,
    "manager": records(200, 404, 200),
    "agent": 403,
    "analyst": 403,
}

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/api/v1/loyalty/tiers"): Policy(everyone(200)),
    ("GET", "/api/v1/loyalty/accounts/{customer_id}"): Policy(customer_read(200)),
    ("GET", "/api/v1/loyalty/accounts/{customer_id}/ledger"): Policy(customer_read(200)),
    ("POST", "/api/v1/loyalty/accounts/{customer_id}/earn"): Policy(
        customer_write(200, agent=True), body=lambda w, n: {"points": 10, "reason": f"gift {n}"}
    ),
    ("POST", "/api/v1/loyalty/accounts/{customer_id}/redeem"): Policy(
        _REDEEM, body=lambda w, n: {"points": 10, "reason": "coupon"}
    ),
    ("POST", "/api/v1/loyalty/accounts/{customer_id}/adjust"): Policy(
        _ADJUST, body=lambda w, n: {"points": 5, "reason": "goodwill"}
    ),
}
