"""The imports page (admins and managers): upload a CSV or XLSX file, see how its columns map,
run the import as a background job with a progress bar, read the summary and download the
rejected rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, BinaryIO

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import FileResponse

from patron.api.access import Actor, Permission
from patron.api.deps import FactoryDep, SessionDep, SettingsDep, requires
from patron.errors import NotFound
from patron.imports.api import visible_job
from patron.imports.kinds import KINDS
from patron.web import import_uploads as uploads
from patron.web.pages.base import PageRoute, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Importer = Annotated[Actor, requires(Permission.imports_write)]


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(uploads.CHUNK_BYTES):
        yield chunk


@router.get("/imports")
def imports_page(request: Request, session: SessionDep, actor: Importer) -> Response:
    """The upload form and the user's recent imports."""
    return render(
        request, "imports.html", actor, kinds=list(KINDS),
        jobs=uploads.recent(session, actor), percent=uploads.percent,
    )  # fmt: skip


@router.post("/imports/preview")
def preview(
    request: Request,
    actor: Importer,
    settings: SettingsDep,
    file: Annotated[UploadFile, File()],
    kind: Annotated[str, Form(max_length=32)] = "customers",
) -> Response:
    """Store the upload and show how it would be read: encoding, mapping and first rows."""
    upload = uploads.create(
        user_id=actor.user_id, kind=kind, filename=file.filename or "",
        chunks=_chunks(file.file), settings=settings,
    )  # fmt: skip
    shown = uploads.preview(upload, settings)
    return render(request, "fragments/import_preview.html", actor, upload=upload, preview=shown)


@router.post("/imports/uploads/{upload_id}/run")
def run(
    request: Request, session: SessionDep, actor: Importer, settings: SettingsDep,
    factory: FactoryDep, upload_id: str,
) -> Response:  # fmt: skip
    """Start the previewed import as a background job; the answer polls its progress."""
    upload = uploads.get(upload_id, actor.user_id)
    job_id = uploads.start(
        upload, actor, factory=factory, engine=request.app.state.engine, settings=settings
    )
    job = visible_job(session, actor, job_id)
    return render(
        request, "fragments/import_progress.html", actor, job=job, percent=uploads.percent(job)
    )


@router.get("/imports/jobs/{job_id}/progress")
def progress(request: Request, session: SessionDep, actor: Importer, job_id: int) -> Response:
    """How far the import has got; once finished, its summary."""
    job = visible_job(session, actor, job_id)
    return render(
        request, "fragments/import_progress.html", actor, job=job, percent=uploads.percent(job)
    )


@router.get("/imports/jobs/{job_id}/rejects")
def rejects(session: SessionDep, actor: Importer, job_id: int) -> Response:
    """The rejected rows as they were in the file, with row number, column and reason."""
    job = visible_job(session, actor, job_id)
    if job.rejects_path is None or not Path(job.rejects_path).is_file():
        raise NotFound("this import rejected no row")
    name = f"{Path(job.filename).stem}.rejects.csv"
    return FileResponse(job.rejects_path, media_type="text/csv", filename=name)
