"""Access policies of the campaigns routes.

The authorisation suite's world holds no campaigns, so routes on one campaign are called with
an id that does not exist: a role allowed through gets 404, the others 403.
tests/campaigns/test_api.py covers the same roles on real campaigns.
"""

from __future__ import annotations

from tests.api.policy import Policy, customer_write, only

MISSING = {"campaign_id": lambda w: 999_999}
WRITERS = ("admin", "manager")
READERS = ("admin", "manager", "analyst")
ONE = "/api/v1/campaigns/{campaign_id}"

POLICIES: dict[tuple[str, str], Policy] = {
    ("POST", "/api/v1/campaigns/segments"): Policy(
        only(201, *WRITERS),
        body=lambda w, n: {"name": f"沉睡客户{n}", "expression": "recency_days > 90"},
    ),
    ("GET", "/api/v1/campaigns/segments"): Policy(only(200, *READERS)),
    # No segment exists, so an allowed role learns that (404) and nothing is created.
    ("POST", "/api/v1/campaigns"): Policy(
        only(404, *WRITERS),
        body=lambda w, n: {
            "name": f"回访{n}",
            "segment_id": 999_999,
            "templates": {"zh_CN": {"subject": "您好", "body": "{name}，您好"}},
        },
    ),
    ("GET", "/api/v1/campaigns"): Policy(only(200, *READERS)),
    ("GET", ONE): Policy(only(404, *READERS), path_params=MISSING),
    ("GET", ONE + "/audience"): Policy(only(404, *READERS), path_params=MISSING),
    ("POST", ONE + "/launch"): Policy(only(404, *WRITERS), path_params=MISSING),
    ("GET", ONE + "/results"): Policy(only(404, *READERS), path_params=MISSING),
    ("POST", "/api/v1/customers/{customer_id}/opt-outs"): Policy(
        customer_write(201, agent=True), body=lambda w, n: {"channel": "email"}
    ),
}
