"""The web application: the REST API under /api/v1, /healthz, and the pages when present.

`create_app` builds everything from settings; `patron serve` runs it under uvicorn.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from sqlalchemy import Engine

from patron.analytics import kpi_store
from patron.analytics.api import router as analytics_router
from patron.api import errors
from patron.api.gate import ConnectionGate, slots_for
from patron.api.security import LoginLimiter
from patron.api.token_reader import TokenReader, reader_for
from patron.audit.api import router as audit_router
from patron.auth.api import router as auth_router
from patron.campaigns.api import router as campaigns_router
from patron.config import Settings, get_settings
from patron.customers.api import router as customers_router
from patron.customers.contacts import router as contacts_router
from patron.db import check_connection, create_db_engine, session_factory
from patron.engagement.api import router as engagement_router
from patron.engagement.interactions_api import router as interactions_router
from patron.exports.api import router as exports_router
from patron.imports.api import router as imports_router
from patron.knowledge.api import router as knowledge_router
from patron.loyalty.api import router as loyalty_router
from patron.notify.api import router as notify_router
from patron.notify.webhooks_api import router as webhooks_router
from patron.orders.api import router as orders_router
from patron.pool.api import router as pool_router
from patron.rules.api import router as rules_router
from patron.service.api import public as public_surveys_router
from patron.service.api import router as service_router

API_PREFIX = "/api/v1"
WEB = Path(__file__).resolve().parent.parent / "web"

health = APIRouter(tags=["health"])


class Health(BaseModel):
    """The server answers and reaches its database."""

    status: str
    database: str


@health.get("/healthz", responses=errors.responses(), summary="Liveness and database check")
def healthz(request: Request) -> Health:
    """200 when the server runs and its database answers; 503 otherwise. No sign-in needed."""
    engine: Engine = request.app.state.engine
    check_connection(engine)
    return Health(status="ok", database=engine.dialect.name)


def _api_router() -> APIRouter:
    api = APIRouter(prefix=API_PREFIX)
    routers = (auth_router, customers_router, analytics_router, rules_router, audit_router)
    operations = (engagement_router, service_router, public_surveys_router)
    for router in (*routers, knowledge_router, *operations):
        api.include_router(router)
    api.include_router(loyalty_router)
    api.include_router(pool_router)
    api.include_router(notify_router)
    api.include_router(campaigns_router)
    for router in (orders_router, contacts_router, interactions_router, webhooks_router):
        api.include_router(router)
    api.include_router(exports_router)
    api.include_router(imports_router)
    return api


def _mount_web(app: FastAPI) -> None:
    # The pages live in patron.web and arrive separately: use them when they are installed.
    static = WEB / "static"
    if static.is_dir():
        app.mount("/static", StaticFiles(directory=static), name="static")
    if importlib.util.find_spec("patron.web.pages") is not None:
        pages = importlib.import_module("patron.web.pages")
        app.include_router(pages.router)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # In each server process, on its event loop (workers start after the fork).
    reader: TokenReader | None = app.state.token_reader
    if reader is not None:
        await reader.start()
    try:
        yield
    finally:
        if reader is not None:
            await reader.stop()


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """The application for these settings (default: the environment's), on `engine` if given."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Patron",
        version=version("patron"),
        description="Customer management by rules: customers, scores, rules and KPIs.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine or create_db_engine(settings.database_url, serving=True)
    app.state.sessions = session_factory(app.state.engine)
    app.state.token_reader = reader_for(app.state.engine)  # PostgreSQL: tokens on the loop
    kpi_store.prepare(app.state.engine)
    app.state.login_limiter = LoginLimiter()
    errors.install(app)
    app.add_middleware(ConnectionGate, slots=slots_for(app.state.engine))
    app.include_router(health)
    app.include_router(_api_router())
    _mount_web(app)
    return app
