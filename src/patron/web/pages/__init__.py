"""Patron's server-rendered pages: sign-in, dashboard, customers, Customer 360, rulebook."""

from __future__ import annotations

from fastapi import APIRouter

from patron.web.pages import (
    auth,
    customers,
    dashboard,
    imports,
    loyalty,
    pool,
    reports,
    rules,
    survey,
    surveys,
    tasks,
    tickets,
)

router = APIRouter(include_in_schema=False)
for group in (
    auth,
    dashboard,
    customers,
    rules,
    tasks,
    tickets,
    pool,
    surveys,
    loyalty,
    imports,
    reports,
    survey,
):
    router.include_router(group.router)
