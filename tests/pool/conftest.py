"""The pool tests change the rulebook and call the API the same way the loyalty tests do."""

from __future__ import annotations

from tests.loyalty.conftest import UseRules, activate, app, client, use_rules, world

__all__ = ["UseRules", "activate", "app", "client", "use_rules", "world"]
