"""Access policies of the app routes."""

from __future__ import annotations

from tests.api.policy import ROLES, Policy

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/openapi.json"): Policy(dict.fromkeys(ROLES, 200)),
    ("GET", "/docs"): Policy(dict.fromkeys(ROLES, 200)),
    ("GET", "/docs/oauth2-redirect"): Policy(dict.fromkeys(ROLES, 200)),
    ("GET", "/healthz"): Policy(dict.fromkeys(ROLES, 200)),
}
