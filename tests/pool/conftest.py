"""The pool tests change the rulebook the same way the loyalty tests do."""

from __future__ import annotations

from tests.loyalty.conftest import UseRules, activate, use_rules

__all__ = ["UseRules", "activate", "use_rules"]
