"""Access policies of the work pages: tasks, tickets, the public pool, surveys, loyalty.

As for the other pages, an anonymous visitor is sent to sign in (the suite's client follows
to the sign-in page: 200). Changes answer HTMX fragments: a refused change that the role may
attempt is a 200 fragment saying why; a task or ticket the user may not see is a 404.
"""

from __future__ import annotations

from tests.api.policy import ROLES, Policy, customer_read, only, records

SIGN_IN = {"anonymous": 200}
EVERYONE = dict.fromkeys(ROLES, 200)
# No task or ticket has id 0: writers get 404, analysts (read-only) 403.
MISSING = {"task_id": lambda w: 0}
WRITERS_MISS = only(404, "admin", "manager", "agent") | SIGN_IN
CLAIM = {
    "admin": 200,
    "manager": records(200, 404, 200),
    "agent": records(200, 404, 200),
    "analyst": 403,
} | SIGN_IN
ADJUST = {
    "admin": 200,
    "manager": records(200, 404, 200),
    "agent": 403,
    "analyst": 403,
} | SIGN_IN

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/tasks"): Policy(EVERYONE),
    ("POST", "/tasks/{task_id}/complete"): Policy(WRITERS_MISS, path_params=MISSING),
    ("POST", "/tasks/{task_id}/snooze"): Policy(WRITERS_MISS, path_params=MISSING),
    ("POST", "/tasks/{task_id}/assign"): Policy(WRITERS_MISS, path_params=MISSING),
    ("GET", "/tickets"): Policy(EVERYONE),
    ("POST", "/tickets/{ticket_id}/move"): Policy(
        WRITERS_MISS, path_params={"ticket_id": lambda w: 0}
    ),
    ("POST", "/tickets/{ticket_id}/take"): Policy(
        WRITERS_MISS, path_params={"ticket_id": lambda w: 0}
    ),
    ("GET", "/pool"): Policy(EVERYONE),
    ("POST", "/pool/{customer_id}/claim"): Policy(CLAIM),
    ("GET", "/surveys"): Policy(EVERYONE),
    ("GET", "/loyalty"): Policy(EVERYONE),
    ("GET", "/loyalty/{customer_id}"): Policy(customer_read(200) | SIGN_IN),
    ("POST", "/loyalty/{customer_id}/adjust"): Policy(ADJUST),
}
