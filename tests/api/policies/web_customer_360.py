"""Access policies of Customer 360's fragments: the timeline's next entries follow the page's
own rule (a customer the user may not see is a 404; anonymous visitors go to sign in)."""

from __future__ import annotations

from tests.api.policy import Policy, records

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/customers/{customer_id}/timeline"): Policy(
        {
            "admin": 200,
            "manager": records(200, 404, 200),
            "agent": records(200, 404, 200),
            "analyst": 200,
            "anonymous": 200,
        }
    ),
}
