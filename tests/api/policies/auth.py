"""Access policies of the auth routes."""

from __future__ import annotations

from tests.api.policy import ROLES, USER, Policy, everyone, only

POLICIES: dict[tuple[str, str], Policy] = {
    # Everyone may try to sign in; a wrong password is refused alike for all.
    ("POST", "/api/v1/auth/login"): Policy(
        dict.fromkeys(ROLES, 401),
        body=lambda w, n: {"username": "nobody", "password": "wrong-password"},
    ),
    ("POST", "/api/v1/auth/logout"): Policy(everyone(204)),
    ("GET", "/api/v1/auth/me"): Policy(everyone(200)),
    # A token cannot change a password: that takes a browser session and the current one.
    ("POST", "/api/v1/auth/password"): Policy(
        only(204),
        body=lambda w, n: {"current_password": "x", "new_password": "a-new-password"},
    ),
    ("GET", "/api/v1/users"): Policy(only(200, "admin")),
    ("POST", "/api/v1/users"): Policy(
        only(201, "admin"), body=lambda w, n: {"username": f"new{n}", "role": "agent"}
    ),
    ("PATCH", "/api/v1/users/{user_id}"): Policy(
        only(200, "admin"), body=lambda w, n: {"display_name": f"Agent {n}"}, path_params=USER
    ),
    ("POST", "/api/v1/users/{user_id}/password"): Policy(
        only(204, "admin"), body=lambda w, n: {"new_password": "a-new-password"}, path_params=USER
    ),
    ("GET", "/api/v1/tokens"): Policy(only(200, "admin")),
    ("POST", "/api/v1/tokens"): Policy(
        only(201, "admin"),
        body=lambda w, n: {"user_id": w.users["agent"].id, "name": "t", "scopes": ["kpi:read"]},
    ),
    ("DELETE", "/api/v1/tokens/{token_id}"): Policy(
        only(204, "admin"), path_params={"token_id": lambda w: w.spare_token_id}
    ),
}
