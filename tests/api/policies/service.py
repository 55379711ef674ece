"""Access policies of the ticket and survey routes, and of the public survey links.

Routes on one ticket get an id that no one can see: each role meets its permission check
(403) or the record rule (404); tests/service/test_api.py covers visible tickets.
"""

from __future__ import annotations

from tests.api.policy import ROLES, Policy, customer_read, everyone, only, records

NO_TICKET = {"ticket_id": lambda w: 0}
BAD_TOKEN = {"token": lambda w: "not-a-token"}
WRITERS = ("admin", "manager", "agent")
# Writing about a customer: anyone who sees it except analysts, who only read.
ABOUT_CUSTOMER = {
    "anonymous": 401,
    "admin": 201,
    "manager": records(201, 404, 201),
    "agent": records(201, 404, 201),
    "analyst": 403,
}

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/api/v1/tickets"): Policy(everyone(200)),
    ("POST", "/api/v1/customers/{customer_id}/tickets"): Policy(
        ABOUT_CUSTOMER, body=lambda w, n: {"kind": "inquiry", "subject": f"question {n}"}
    ),
    ("GET", "/api/v1/tickets/{ticket_id}"): Policy(everyone(404), path_params=NO_TICKET),
    ("PATCH", "/api/v1/tickets/{ticket_id}"): Policy(
        only(404, *WRITERS), body=lambda w, n: {"category": "delivery"}, path_params=NO_TICKET
    ),
    ("POST", "/api/v1/tickets/{ticket_id}/transitions"): Policy(
        only(404, *WRITERS), body=lambda w, n: {"to": "in_progress"}, path_params=NO_TICKET
    ),
    ("POST", "/api/v1/tickets/{ticket_id}/assign"): Policy(
        only(404, *WRITERS),
        body=lambda w, n: {"assignee_id": w.users["agent"].id},
        path_params=NO_TICKET,
    ),
    ("GET", "/api/v1/surveys"): Policy(everyone(200)),
    ("POST", "/api/v1/surveys"): Policy(
        only(201, "admin", "manager"), body=lambda w, n: {"kind": "nps", "name": f"NPS {n}"}
    ),
    ("POST", "/api/v1/customers/{customer_id}/survey-invitations"): Policy(
        ABOUT_CUSTOMER, body=lambda w, n: {"kind": "nps"}
    ),
    ("GET", "/api/v1/customers/{customer_id}/survey-invitations"): Policy(customer_read(200)),
    # The public links need no sign-in: a token that is not one is refused alike for all.
    ("GET", "/api/v1/public/surveys/{token}"): Policy(
        dict.fromkeys(ROLES, 400), path_params=BAD_TOKEN
    ),
    ("POST", "/api/v1/public/surveys/{token}"): Policy(
        dict.fromkeys(ROLES, 400), body=lambda w, n: {"score": 9}, path_params=BAD_TOKEN
    ),
}
