"""Access policies of the notification and outbox routes."""

from __future__ import annotations

from tests.api.policy import Policy, everyone, only

POLICIES: dict[tuple[str, str], Policy] = {
    # Everyone signed in has their own notifications; nobody sees another's.
    ("GET", "/api/v1/notifications"): Policy(everyone(200)),
    ("GET", "/api/v1/notifications/unread-count"): Policy(everyone(200)),
    ("POST", "/api/v1/notifications/read-all"): Policy(everyone(200)),
    # No role reaches a notification that is not its own: it is not found for them.
    ("POST", "/api/v1/notifications/{notification_id}/read"): Policy(
        everyone(404), path_params={"notification_id": lambda w: 0}
    ),
    ("GET", "/api/v1/outbox"): Policy(only(200, "admin")),
    ("GET", "/api/v1/outbox/summary"): Policy(only(200, "admin")),
}
