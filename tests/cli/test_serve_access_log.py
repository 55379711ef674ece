"""`patron serve --no-access-log`: uvicorn started without its line per request."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from patron.cli.main import app as cli


@pytest.mark.parametrize(("flag", "logged"), [([], True), (["--no-access-log"], False)])
def test_the_access_log_is_on_unless_turned_off(
    db_url: str, monkeypatch: pytest.MonkeyPatch, flag: list[str], logged: bool
) -> None:
    started: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.update(options))
    done = CliRunner().invoke(cli, ["--db", db_url, "serve", *flag])
    assert done.exit_code == 0, done.output
    assert started["access_log"] is logged
