"""Access policies of the task, follow-up plan and timeline routes.

Routes on one task get an id that no one can see: each role meets its permission check
(403) or the record rule (404); tests/engagement/test_api.py covers visible tasks.
"""

from __future__ import annotations

from tests.api.policy import Policy, customer_read, everyone, only

NO_TASK = {"task_id": lambda w: 0}
WRITERS = ("admin", "manager", "agent")

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/api/v1/tasks"): Policy(everyone(200)),
    ("POST", "/api/v1/tasks"): Policy(
        only(201, *WRITERS),
        body=lambda w, n: {
            "title": f"task {n}",
            "kind": "todo",
            "assignee_id": w.users["agent"].id,
        },
    ),
    ("GET", "/api/v1/tasks/{task_id}"): Policy(everyone(404), path_params=NO_TASK),
    ("POST", "/api/v1/tasks/{task_id}/assign"): Policy(
        only(404, *WRITERS),
        body=lambda w, n: {"assignee_id": w.users["agent"].id},
        path_params=NO_TASK,
    ),
    ("POST", "/api/v1/tasks/{task_id}/snooze"): Policy(
        only(404, *WRITERS), body=lambda w, n: {"until": "2099-01-01T09:00:00"}, path_params=NO_TASK
    ),
    ("POST", "/api/v1/tasks/{task_id}/complete"): Policy(
        only(404, *WRITERS), body=lambda w, n: {"outcome": "reached"}, path_params=NO_TASK
    ),
    ("POST", "/api/v1/tasks/{task_id}/cancel"): Policy(only(404, *WRITERS), path_params=NO_TASK),
    ("GET", "/api/v1/customers/{customer_id}/timeline"): Policy(customer_read(200)),
    ("GET", "/api/v1/follow-up-plans"): Policy(everyone(200)),
    ("PUT", "/api/v1/follow-up-plans/{grade}"): Policy(
        only(200, "admin", "manager"),
        body=lambda w, n: {"every_months": 1},
        path_params={"grade": lambda w: "A"},
    ),
}
