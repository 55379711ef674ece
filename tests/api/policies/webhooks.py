"""Access policies of the webhook subscription routes: admins only."""

from __future__ import annotations

from tests.api.policy import Policy, only

NO_SUBSCRIPTION = {"subscription_id": lambda w: 0}

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/api/v1/webhooks/events"): Policy(only(200, "admin")),
    ("GET", "/api/v1/webhooks"): Policy(only(200, "admin")),
    ("POST", "/api/v1/webhooks"): Policy(
        only(201, "admin"),
        body=lambda w, n: {"url": f"http://127.0.0.1:9/hook/{n}", "events": ["order.created"]},
    ),
    ("GET", "/api/v1/webhooks/{subscription_id}"): Policy(
        only(404, "admin"), path_params=NO_SUBSCRIPTION
    ),
    ("PATCH", "/api/v1/webhooks/{subscription_id}"): Policy(
        only(404, "admin"), body=lambda w, n: {"active": False}, path_params=NO_SUBSCRIPTION
    ),
    ("DELETE", "/api/v1/webhooks/{subscription_id}"): Policy(
        only(404, "admin"), path_params=NO_SUBSCRIPTION
    ),
}
