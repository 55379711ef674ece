"""Which stored values are personal, per table, and what erasing puts in their place.

Every text, JSON and date column of a table that points at a customer is named here, either as
erased or as kept with the reason; tests/privacy/test_fields.py fails when a new column is in
neither list, so no personal field slips past an erasure.
"""

from __future__ import annotations

from typing import Any

ERASED_NAME = "已删除客户 / erased customer"
ERASED_TEXT = "[已删除 / erased]"

# Features that describe the person rather than their behaviour; dropped from old snapshots.
PERSONAL_FEATURES = ("age", "gender", "birthday", "province", "city", "tags")

ERASED: dict[str, dict[str, Any]] = {
    "customers": {
        "name": ERASED_NAME,
        "name_initials": "",
        "phone": None,
        "email": None,
        "gender": None,
        "birthday": None,
        "lunar_birthday": None,
        "address": None,
        "company": None,
        "credit_code": None,
        "custom_fields": {},
        "import_hash": None,
        "consent": {},
    },
    # Unknown import columns land here and may hold a delivery address or a phone number.
    "orders": {"custom_fields": {}},
    "interactions": {"summary": ""},
    "tasks": {"title": ERASED_TEXT, "notes": "", "outcome": None},
    "tickets": {"subject": ERASED_TEXT, "description": ""},
    "survey_responses": {"comment": "", "answers": {}},
    "outbox_messages": {"recipient": "", "subject": "", "body": "", "payload": {}},
    "in_app_notifications": {"subject": ERASED_TEXT, "body": ""},
    "alerts": {"message": "", "evidence": {}},
    "actions_taken": {"detail": {}},
    # The "why" quotes feature values; the features themselves lose only the personal ones.
    "score_snapshots": {"explain": {}},
    "campaign_opt_outs": {"reason": ""},
}

# Rows that are nothing but personal data: removed whole.
DELETED = ("contacts",)

# Kept on purpose: codes, statuses and amounts that aggregates need and that name nobody.
KEPT: dict[str, frozenset[str]] = {
    "customers": frozenset(
        {
            "external_id",
            "kind",
            "province",
            "city",
            "industry",
            "source",
        }
    ),
    "customer_scores": frozenset({"grade", "stage", "rfm_segment", "value_class"}),
    "customer_tags": frozenset({"tag", "source"}),
    "orders": frozenset({"external_id", "status", "channel", "currency", "import_hash"}),
    "interactions": frozenset({"external_id", "kind", "direction", "import_hash"}),
    "tasks": frozenset({"kind", "status", "source_rule", "idempotency_key"}),
    "tickets": frozenset(
        {
            "external_id",
            "kind",
            "channel",
            "priority",
            "status",
            "category",
            "root_causes",
            "import_hash",
        }
    ),
    "survey_responses": frozenset({"external_id", "kind", "import_hash"}),
    "survey_invitations": frozenset({"nonce", "not_sent_reason"}),
    "outbox_messages": frozenset({"channel", "dedupe_key", "status", "claimed_by", "last_error"}),
    # A waiting warning refresh: which worker holds it and why its last run failed.
    "warning_refreshes": frozenset({"claimed_by", "last_error"}),
    "alerts": frozenset({"rule_id", "severity", "idempotency_key"}),
    "actions_taken": frozenset({"idempotency_key", "rule_id", "action"}),
    "state_changes": frozenset({"kind", "from_value", "to_value", "rule_id"}),
    "score_snapshots": frozenset(
        {"grade", "stage", "rfm_segment", "value_class", "warnings", "features"}
    ),
    "loyalty_accounts": frozenset({"tier"}),
    # The ledger is append-only and its reasons are the business's words ("birthday bonus").
    "points_ledger": frozenset({"kind", "reason", "idempotency_key"}),
    "tier_changes": frozenset({"from_tier", "to_tier", "reason"}),
    "ownership_changes": frozenset({"reason"}),
    "campaign_recipients": frozenset({"group", "reason"}),
    "campaign_opt_outs": frozenset({"channel"}),
}
