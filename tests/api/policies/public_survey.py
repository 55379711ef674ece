"""Access policy of the public survey page /s/{token}: no sign-in, the signed token decides.

A token that is not one shows the same friendly 404 page to every role and to anonymous
visitors alike; tests/web/test_public_survey.py covers live, used and expired links.
"""

from __future__ import annotations

from tests.api.policy import ROLES, Policy

BAD_TOKEN = {"token": lambda w: "not-a-token"}

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/s/{token}"): Policy(dict.fromkeys(ROLES, 404), path_params=BAD_TOKEN),
    ("POST", "/s/{token}"): Policy(
        dict.fromkeys(ROLES, 404), body=lambda w, n: {"q0": "9"}, path_params=BAD_TOKEN
    ),
}
