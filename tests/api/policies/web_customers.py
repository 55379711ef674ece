"""Access policies of the customer list's bulk actions and saved views.

As for the other pages, an anonymous visitor is sent to sign in (the suite's client follows to
the sign-in page: 200). The suite sends no form, so a role that may act gets 422 (nothing
chosen); analysts only read and may not act at all. Saved views belong to each user: there is
no view 0, so deleting it is 404 for everyone.
"""

from __future__ import annotations

from tests.api.policy import ROLES, Policy

SIGN_IN = {"anonymous": 200}
ACTORS = {"admin": 422, "manager": 422, "agent": 422, "analyst": 403} | SIGN_IN

POLICIES: dict[tuple[str, str], Policy] = {
    ("POST", "/customers/bulk"): Policy(ACTORS),
    ("POST", "/customers/views"): Policy(dict.fromkeys(ROLES, 422) | SIGN_IN),
    ("POST", "/customers/views/{view_id}/delete"): Policy(
        dict.fromkeys(ROLES, 404) | SIGN_IN, path_params={"view_id": lambda w: 0}
    ),
}
