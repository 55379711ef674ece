"""/api/v1/exports/{kind}: customers, orders, scores, tasks or tickets as CSV or XLSX.

An export holds only the records the caller may see, with personal data masked as the API
masks it; `unmasked=true` (admins and managers) keeps it. Every export is audited.
"""

from __future__ import annotations

import enum
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from sqlalchemy import and_
from starlette.background import BackgroundTask
from starlette.responses import Response

from patron.api.access import Actor, Permission
from patron.api.customer_search import FiltersDep, filter_conditions
from patron.api.deps import SessionDep, requires
from patron.api.errors import responses
from patron.audit.service import record
from patron.db import now
from patron.errors import InvalidInput
from patron.exports.audience import audience_of, only
from patron.exports.service import OpenExport, open_export
from patron.exports.writers import csv_chunks, write_xlsx
from patron.web.i18n import request_locale

router = APIRouter(prefix="/exports", tags=["exports"], responses=responses(401, 403, 404, 422))
Exporter = Annotated[Actor, requires(Permission.exports_read)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX}


class ExportKind(enum.StrEnum):
    """The tables there are to export (the keys of `patron.exports.service.EXPORTS`)."""

    customers = "customers"
    orders = "orders"
    scores = "scores"
    tasks = "tasks"
    tickets = "tickets"


# The kinds whose rows belong to customers, which the customer filters narrow.
CUSTOMER_KINDS = (ExportKind.customers, ExportKind.orders, ExportKind.scores)


class ExportFormat(enum.StrEnum):
    csv = "csv"
    xlsx = "xlsx"


def _attachment(kind: str, extension: str) -> dict[str, str]:
    name = f"patron-{kind}-{now():%Y%m%d-%H%M%S}.{extension}"
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def _xlsx_file(export: OpenExport) -> Path:
    """The workbook in a temporary file (openpyxl writes whole files), removed after sending."""
    descriptor, name = tempfile.mkstemp(prefix="patron-export-", suffix=".xlsx")
    os.close(descriptor)
    path = Path(name)
    try:
        write_xlsx(path, export.headers, export.rows)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    finally:
        export.close()
    return path


@router.get(
    "/{kind}",
    summary="Export a table as CSV or XLSX",
    response_class=Response,
    responses={
        200: {"description": "The file", "content": {media: {} for media in MEDIA.values()}}
    },
)
def export_table(
    request: Request,
    session: SessionDep,
    actor: Exporter,
    kind: ExportKind,
    filters: FiltersDep,
    format: ExportFormat = ExportFormat.csv,
    locale: Annotated[
        Literal["zh_CN", "en"] | None,
        Query(description="Header language (default: the signed-in user's language)"),
    ] = None,
    unmasked: Annotated[
        bool, Query(description="Keep phone, email, address and birthday (admins, managers)")
    ] = False,
) -> Response:
    """The records of `kind` the caller may see, streamed; headers in Chinese for zh_CN.

    The customer list's filters (grade, stage, city, q, ...) narrow an export of customers,
    of their orders or of their scores to the customers the list shows with them."""
    if unmasked:
        actor.require(Permission.personal_data_unmask)
    if kind == "scores":
        actor.require(Permission.scores_read)
    chosen = locale or request_locale(request)
    audience = audience_of(actor, unmasked=unmasked)
    narrowed = filter_conditions(session, actor, filters)
    if narrowed:
        if kind not in CUSTOMER_KINDS:
            raise InvalidInput(
                f"customer filters apply to exports of {', '.join(CUSTOMER_KINDS)}, not {kind}"
            )
        audience = replace(audience, customers=and_(*only(audience.customers), *narrowed))
    export = open_export(
        engine=request.app.state.engine, kind=kind.value, locale=chosen, audience=audience
    )
    record(
        session=session, action=f"export.{kind.value}", entity="export", user_id=actor.user_id,
        format=format.value, locale=chosen, masked=not unmasked, via=actor.via,
        filters=str(request.query_params) if narrowed else None,
    )  # fmt: skip
    headers = _attachment(kind.value, format.value)
    if format is ExportFormat.csv:
        chunks = csv_chunks(export.headers, export.rows)
        # Closing afterwards gives the connection back even if the client went away mid-file.
        return StreamingResponse(
            chunks,
            media_type=MEDIA["csv"],
            headers=headers,
            background=BackgroundTask(export.close),
        )
    path = _xlsx_file(export)
    return FileResponse(
        path, media_type=XLSX, headers=headers, background=BackgroundTask(path.unlink, True)
    )
