"""Every domain's route policies, gathered from the modules in this folder."""

from __future__ import annotations

import importlib
import pkgutil

from tests.api.policy import Policy


def all_policies() -> dict[tuple[str, str], Policy]:
    """The union of each module's `POLICIES`; a route declared twice is an error."""
    merged: dict[tuple[str, str], Policy] = {}
    for module in pkgutil.iter_modules(__path__):
        declared = importlib.import_module(f"{__name__}.{module.name}").POLICIES
        twice = set(merged) & set(declared)
        assert not twice, f"{module.name} declares routes already declared: {twice}"
        merged |= declared
    return merged
