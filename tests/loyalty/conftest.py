"""A rulebook with some loyalty or pool settings changed, made active for one test."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine

from patron.rules import rulebook as rulebooks
from patron.rules import versions

UseRules = Callable[..., None]


def activate(engine: Engine, section: str, **values: Any) -> None:
    """Activate the default rulebook with `section`'s fields replaced by `values`."""
    data = rulebooks.default().model_dump(mode="json")
    data[section] |= values
    with engine.begin() as connection:
        versions.apply(connection, yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


@pytest.fixture
def use_rules(db: Engine) -> UseRules:
    """Call as use_rules("loyalty", tier_basis="points") to change the active rulebook."""

    def use(section: str, **values: Any) -> None:
        activate(db, section, **values)

    return use


# The API fixtures (app, client, world) for the endpoint tests in this folder.
from tests.api.conftest import app, client, world  # noqa: E402

__all__ = ["UseRules", "activate", "app", "client", "use_rules", "world"]
