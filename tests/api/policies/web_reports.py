"""Access policies of the imports and reports pages (see web.py for the conventions).

Imports are for admins and managers; an upload or job nobody made is a 404, and an upload
without a file a 422. Every role reads reports, over the customers it may see."""

from __future__ import annotations

from tests.api.policy import ROLES, Policy, only

SIGN_IN = {"anonymous": 200}
EVERYONE = dict.fromkeys(ROLES, 200)
IMPORTERS = ("admin", "manager")
NO_UPLOAD = {"upload_id": lambda w: "no-such-upload"}
NO_JOB = {"job_id": lambda w: 0}

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/imports"): Policy(only(200, *IMPORTERS) | SIGN_IN),
    ("POST", "/imports/preview"): Policy(only(422, *IMPORTERS) | SIGN_IN),
    ("POST", "/imports/uploads/{upload_id}/run"): Policy(
        only(404, *IMPORTERS) | SIGN_IN, path_params=NO_UPLOAD
    ),
    ("GET", "/imports/jobs/{job_id}/progress"): Policy(
        only(404, *IMPORTERS) | SIGN_IN, path_params=NO_JOB
    ),
    ("GET", "/imports/jobs/{job_id}/rejects"): Policy(
        only(404, *IMPORTERS) | SIGN_IN, path_params=NO_JOB
    ),
    ("GET", "/reports"): Policy(EVERYONE),
    ("GET", "/reports/periods"): Policy(EVERYONE),
    ("GET", "/reports/breakdown/{by}"): Policy(EVERYONE, path_params={"by": lambda w: "grade"}),
    ("GET", "/reports/cohorts"): Policy(EVERYONE),
    ("GET", "/reports/export.xlsx"): Policy(EVERYONE),
}
