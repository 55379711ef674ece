"""Patron's server-rendered pages: sign-in, dashboard, customers, Customer 360, rulebook."""

from __future__ import annotations

from fastapi import APIRouter

from patron.web.pages import auth, customers, dashboard, rules

router = APIRouter(include_in_schema=False)
for group in (auth, dashboard, customers, rules):
    router.include_router(group.router)
