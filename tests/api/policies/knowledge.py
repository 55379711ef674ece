"""Access policies of the knowledge routes.

The authorisation suite's world holds no articles or tickets, so routes on one record are
called with an id that does not exist: a role allowed through gets 404, the others 403.
tests/knowledge/test_api.py covers the same roles on real records.
"""

from __future__ import annotations

from tests.api.policy import Policy, everyone, only

MISSING = {"article_id": lambda w: 999_999, "ticket_id": lambda w: 999_999}
WRITERS = ("admin", "manager")
LINKERS = ("admin", "manager", "agent")

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/api/v1/knowledge/articles"): Policy(everyone(200)),
    ("POST", "/api/v1/knowledge/articles"): Policy(
        only(201, *WRITERS), body=lambda w, n: {"title": f"退款说明{n}", "category": "售后"}
    ),
    # Without `q` the request is invalid: the role check still comes first.
    ("GET", "/api/v1/knowledge/search"): Policy(everyone(422)),
    ("GET", "/api/v1/knowledge/categories"): Policy(everyone(200)),
    ("GET", "/api/v1/knowledge/articles/{article_id}"): Policy(everyone(404), path_params=MISSING),
    ("PATCH", "/api/v1/knowledge/articles/{article_id}"): Policy(
        only(404, *WRITERS), body=lambda w, n: {"title": f"标题{n}"}, path_params=MISSING
    ),
    ("DELETE", "/api/v1/knowledge/articles/{article_id}"): Policy(
        only(404, *WRITERS), path_params=MISSING
    ),
    ("GET", "/api/v1/tickets/{ticket_id}/articles"): Policy(everyone(404), path_params=MISSING),
    ("POST", "/api/v1/tickets/{ticket_id}/articles"): Policy(
        only(404, *LINKERS), body=lambda w, n: {"article_id": 1}, path_params=MISSING
    ),
    ("DELETE", "/api/v1/tickets/{ticket_id}/articles/{article_id}"): Policy(
        only(404, *LINKERS), path_params=MISSING
    ),
}
