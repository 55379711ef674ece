"""Access policies of the export routes: every role exports what it may see (record rules and
masking are tested in tests/exports/test_api.py)."""

from __future__ import annotations

from tests.api.policy import Policy, everyone

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/api/v1/exports/{kind}"): Policy(
        everyone(200), path_params={"kind": lambda w: "customers"}
    ),
}
