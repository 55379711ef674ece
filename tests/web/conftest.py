"""A real `patron serve` on a free port over a small scored demo set, and Debian's chromium.

The demo set is loaded once per test process; each test module copies it and starts its own
server. Chromium that cannot start fails the tests: they are never skipped.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import Engine, select, update

from patron.analytics.dashboard_summary import write_summary
from patron.analytics.kpi import latest_run_id
from patron.analytics.models import ScoreSnapshot, ScoringRun
from patron.api.security import CSRF_COOKIE, SESSION_COOKIE, start_session
from patron.auth.models import User
from patron.auth.service import hash_password
from patron.config import Settings
from patron.db import create_db_engine, session_factory
from tests import builders
from tests.api.conftest import make_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
PASSWORD = "correct-horse-42"
ROLES = {
    "admin": "demo-admin",
    "manager": "demo-manager",
    "agent": "demo-agent1",
    "other_agent": "demo-agent3",
    "analyst": "demo-analyst",
}
SCRIPT_NAME = "<script>window.__patron_xss=1</script>王小明"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PATRON = [sys.executable, "-m", "patron"]
# Dry-runs and backtests score the whole demo set: give them time on a busy machine.
expect.set_options(timeout=60_000)


@dataclass(frozen=True)
class Demo:
    """The prepared database file and the ids the tests look for."""

    path: Path
    user_ids: dict[str, int]
    zhang_san: int
    script_customer: int
    other_agents_customer: int
    other_agents_name: str
    scored_customer: int


def _prepare(path: Path) -> Demo:
    """Load and score a small demo set, give the demo users a known password, and add the
    customers the tests need (张三 with a phone, a grade A customer named with a script)."""
    url = f"sqlite:///{path}"
    subprocess.run(
        [*PATRON, "--db", url, "demo", "--customers", "150", "--no-serve", "--json"],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    engine = create_db_engine(url)
    with session_factory(engine).begin() as session:
        session.execute(update(User).values(password_hash=hash_password(PASSWORD)))
        ids = {
            role: session.scalar(select(User.id).where(User.username == name))
            for role, name in ROLES.items()
        }
        agent, other = ids["agent"], ids["other_agent"]
        zhang = builders.customer(session, "张三", phone="13800138000", owner_id=agent)
        script = builders.customer(session, SCRIPT_NAME, phone="13900139000", owner_id=agent)
        theirs = builders.customer(session, "赵敏仪", phone="13700137000", owner_id=other)
        run = session.get(ScoringRun, latest_run_id(session.connection()))
        assert run is not None
        builders.snapshot(
            session, run, script, grade="A", warnings="high_churn_risk", clv=9_999_999.0,
            churn_risk=0.9, explain={"grade": {"rule": "A", "values": {"clv": 9999999}}},
        )  # fmt: skip
        # A run stores its dashboard figures with its snapshots: count the added one in.
        write_summary(session.connection(), run.id)
        warned = session.scalars(
            select(ScoreSnapshot.customer_id)
            .where(ScoreSnapshot.run_id == run.id, ScoreSnapshot.warnings != "")
            .order_by(ScoreSnapshot.customer_id)
            .limit(1)
        ).one()
        demo = Demo(path, ids, zhang.id, script.id, theirs.id, theirs.name, warned)  # type: ignore[arg-type]
    engine.dispose()
    return demo


@pytest.fixture(scope="session")
def demo_set(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return _prepare(tmp_path_factory.mktemp("web-demo") / "patron.db")


@pytest.fixture
def app(db: Engine) -> FastAPI:
    """The app on the test database (SQLite and PostgreSQL), for the tests without a browser."""
    return make_app(db)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    """A running `patron serve` and the database behind it."""

    base_url: str
    demo: Demo
    secret_key: str

    @property
    def db_url(self) -> str:
        """The server's database URL, for checking what a page changed."""
        return f"sqlite:///{self.demo.path}"


@pytest.fixture(scope="module")
def server(demo_set: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    path = tmp_path_factory.mktemp("web-server") / "patron.db"
    shutil.copy(demo_set.path, path)
    demo = Demo(**{**demo_set.__dict__, "path": path})
    port, secret = _free_port(), secrets.token_urlsafe(32)
    process = subprocess.Popen(
        [*PATRON, "--db", f"sqlite:///{path}", "serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "PATRON_SECRET_KEY": secret},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        yield Server(base, demo, secret)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"patron serve exited early:\n{output}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail("patron serve did not answer /healthz within a minute")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Exception as exc:
            pytest.fail(f"chromium at {CHROMIUM} could not start (run `make browser`): {exc}")
        yield launched
        launched.close()


def new_page(browser: Browser, server: Server, *, locale: str = "en-US", width: int = 1366) -> Page:
    """A fresh browser context (no cookies) at a desktop or phone width."""
    context = browser.new_context(
        base_url=server.base_url, locale=locale, viewport={"width": width, "height": 768}
    )
    context.set_default_timeout(20_000)
    return context.new_page()


def sign_in(page: Page, role: str) -> None:
    """Sign in through the form as the demo user of a role (from the sign-in page if open)."""
    if "/login" not in page.url:
        page.goto("/login")
    page.fill("input[name=username]", ROLES[role])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=who]")


def signed_in(browser: Browser, server: Server, role: str, **options: Any) -> Page:
    """A page already signed in as the role's demo user, its session started in the database.

    The sign-in form itself is tested on its own; starting sessions directly keeps the other
    tests clear of the per-address sign-in rate limit."""
    page = new_page(browser, server, **options)
    engine = create_db_engine(server.db_url)
    settings = Settings(secret_key=server.secret_key)
    with session_factory(engine).begin() as session:
        user = session.scalars(select(User).where(User.username == ROLES[role])).one()
        started = start_session(session=session, user=user, settings=settings)
    engine.dispose()
    page.context.add_cookies(
        [
            {"name": SESSION_COOKIE, "value": started.cookie, "url": server.base_url},
            {"name": CSRF_COOKIE, "value": started.csrf_token, "url": server.base_url},
        ]
    )
    return page


def screenshot(page: Page, name: str) -> None:
    """Keep a full-page screenshot as a test artifact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
