"""Access policies of the pages.

The suite's client follows redirects: a page sends an anonymous visitor to the sign-in page
(303, checked in tests/web/test_pages.py), which answers 200. Errors are pages with the
API's statuses: 403 for a role without the permission, 404 for a record the user may not see.
"""

from __future__ import annotations

from tests.api.policy import ROLES, Policy, customer_write, only, records

SIGN_IN = {"anonymous": 200}
EVERYONE = dict.fromkeys(ROLES, 200)
RULE_READERS = only(200, "admin", "manager", "analyst") | SIGN_IN
# Admins only; with no stored version 0 the admin's request is a 404 (activation itself is
# covered by the browser tests).
ACTIVATE = only(404, "admin") | SIGN_IN

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/login"): Policy(EVERYONE),
    # Without the sign-in form's own double-submit token every sign-in is refused.
    ("POST", "/login"): Policy(dict.fromkeys(ROLES, 403)),
    ("POST", "/logout"): Policy(EVERYONE),
    ("GET", "/language/{code}"): Policy(EVERYONE, path_params={"code": lambda w: "en"}),
    ("GET", "/"): Policy(EVERYONE),
    # The dashboard's KPI cards, an HTMX fragment: every role reads KPIs of what it sees.
    ("GET", "/dashboard/kpis"): Policy(EVERYONE),
    # The cohort retention heatmap, loaded the same way, over the customers the role sees.
    ("GET", "/dashboard/cohorts"): Policy(EVERYONE),
    ("GET", "/customers"): Policy(EVERYONE),
    ("GET", "/customers/{customer_id}"): Policy(
        {
            "admin": 200,
            "manager": records(200, 404, 200),
            "agent": records(200, 404, 200),
            "analyst": 200,
        }
        | SIGN_IN
    ),
    ("POST", "/customers/{customer_id}/follow-up"): Policy(
        customer_write(200, agent=True) | SIGN_IN
    ),
    ("GET", "/rules"): Policy(RULE_READERS),
    # Fragments for HTMX: an empty form answers 200 with the reason in the fragment.
    ("POST", "/rules/check"): Policy(RULE_READERS),
    ("POST", "/rules/dry-run"): Policy(RULE_READERS),
    ("POST", "/rules/backtest"): Policy(RULE_READERS),
    ("POST", "/rules/apply"): Policy(only(422, "admin") | SIGN_IN),
    ("POST", "/rules/versions/{version}/activate"): Policy(
        ACTIVATE, path_params={"version": lambda w: 0}
    ),
}
