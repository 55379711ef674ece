"""Access policies of the import routes: admins and managers import; agents and analysts not.

The authorisation suite sends JSON, not a file, so a permitted upload ends in 422; and job
routes get an id no one has, so a permitted caller meets 404. tests/imports/test_api.py
covers real uploads and whose jobs are whose.
"""

from __future__ import annotations

from tests.api.policy import Policy, only

IMPORTERS = ("admin", "manager")
NO_JOB = {"job_id": lambda w: 0}

POLICIES: dict[tuple[str, str], Policy] = {
    ("POST", "/api/v1/imports/{kind}"): Policy(
        only(422, *IMPORTERS), body=lambda w, n: {}, path_params={"kind": lambda w: "orders"}
    ),
    ("GET", "/api/v1/imports/{job_id}"): Policy(only(404, *IMPORTERS), path_params=NO_JOB),
    ("GET", "/api/v1/imports/{job_id}/rejects"): Policy(only(404, *IMPORTERS), path_params=NO_JOB),
}
