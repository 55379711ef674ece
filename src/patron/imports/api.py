"""/api/v1/imports: upload a CSV or XLSX file to import in the background, follow its
progress, and download its rejected rows.

Admins and managers import (`imports.write`); the import writes across all customers, as
`patron import` does, so agents and analysts may not. A user sees their own jobs; admins all.
"""

from __future__ import annotations

import enum
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import UploadFile

from patron.api.access import Actor, Permission
from patron.api.deps import FactoryDep, SessionDep, SettingsDep, requires
from patron.api.errors import TooLarge, responses
from patron.audit.service import record
from patron.auth.models import Role
from patron.config import Settings
from patron.db import unit_of_work
from patron.errors import InvalidInput, NotFound
from patron.imports import jobs
from patron.imports.models import ImportJob, JobStatus
from patron.wire import LocalDateTime

router = APIRouter(prefix="/imports", tags=["imports"], responses=responses(401, 403, 404, 422))
Importer = Annotated[Actor, requires(Permission.imports_write)]
SUFFIXES = (".csv", ".xlsx")
CHUNK = 1024 * 1024


class ImportKind(enum.StrEnum):
    """What a file holds (the kinds of `patron import`)."""

    customers = "customers"
    orders = "orders"
    interactions = "interactions"
    tickets = "tickets"
    responses = "responses"


class Summary(BaseModel):
    """What the finished import did, as `patron import --json` prints it."""

    inserted: int
    updated: int
    unchanged: int
    rejected: int


class JobView(BaseModel):
    """An import job: its state, progress through the file and, once done, its summary."""

    id: int
    kind: str
    filename: str
    status: JobStatus
    rows_done: int
    position: int
    total: int
    percent: float | None
    summary: Summary | None
    rejects_url: str | None
    error: str | None
    size_bytes: int
    created_at: LocalDateTime
    started_at: LocalDateTime | None
    finished_at: LocalDateTime | None


def _view(job: ImportJob) -> JobView:
    percent = round(100 * job.position / job.total, 1) if job.total else None
    summary = None
    if job.status is JobStatus.done:
        summary = Summary(
            inserted=job.inserted or 0, updated=job.updated or 0,
            unchanged=job.unchanged or 0, rejected=job.rejected or 0,
        )  # fmt: skip
    return JobView(
        id=job.id, kind=job.kind, filename=job.filename, status=job.status,
        rows_done=job.rows_done, position=job.position, total=job.total, percent=percent,
        summary=summary, error=job.error, size_bytes=job.size_bytes, created_at=job.created_at,
        started_at=job.started_at, finished_at=job.finished_at,
        rejects_url=f"/api/v1/imports/{job.id}/rejects" if job.rejects_path else None,
    )  # fmt: skip


def refuse_large_upload(request: Request, settings: SettingsDep) -> None:
    """413 before the body is read when the declared size is over the limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.import_max_bytes + CHUNK:
        raise _too_large(settings)


def _too_large(settings: Settings) -> TooLarge:
    limit = settings.import_max_bytes / 1024 / 1024
    return TooLarge(f"the file is larger than the {limit:,.0f} MB an upload may be")


async def _upload(request: Request) -> UploadFile:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise InvalidInput("send the file as multipart/form-data in the field 'file'")
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidInput("send the file as multipart/form-data in the field 'file'")
    return upload


def _save(upload: UploadFile, kind: str, settings: Settings) -> jobs.Upload:
    """Copy the upload into its own folder, refusing it past the size limit."""
    name = Path(upload.filename or "upload.csv").name
    if Path(name).suffix.lower() not in SUFFIXES:
        raise InvalidInput(f"{name}: upload a .csv or .xlsx file")
    base = Path(settings.import_dir or Path(tempfile.gettempdir()) / "patron-imports")
    folder = base / uuid.uuid4().hex
    folder.mkdir(parents=True)
    target = folder / f"upload{Path(name).suffix.lower()}"
    size = 0
    with target.open("wb") as out:
        while chunk := upload.file.read(CHUNK):
            size += len(chunk)
            if size > settings.import_max_bytes:
                out.close()
                shutil.rmtree(folder, ignore_errors=True)
                raise _too_large(settings)
            out.write(chunk)
    return jobs.Upload(kind=kind, path=target, filename=name, size_bytes=size)


def _queue(factory: sessionmaker[Session], upload: jobs.Upload, actor: Actor) -> int:
    """The committed job for the upload (its thread must see it), audited."""
    with unit_of_work(factory) as session:
        jobs.fail_dead(session=session)
        job = jobs.create(session=session, upload=upload, user_id=actor.user_id)
        record(
            session=session, action=f"import.{upload.kind}", entity="import_job",
            entity_id=job.id, user_id=actor.user_id, file=upload.filename,
            size_bytes=upload.size_bytes,
        )  # fmt: skip
        return job.id


@router.post(
    "/{kind}",
    status_code=202,
    summary="Upload a file to import in the background",
    responses=responses(413),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    },
)
async def start_import(
    request: Request,
    guard: Annotated[None, Depends(refuse_large_upload)],
    actor: Importer,
    settings: SettingsDep,
    factory: FactoryDep,
    kind: ImportKind,
) -> JobView:
    """Save the file (CSV or XLSX, at most PATRON_IMPORT_MAX_BYTES) and start importing it;
    answers at once with the job to follow at `GET /api/v1/imports/{job_id}`."""
    upload = await _upload(request)
    saved = await run_in_threadpool(_save, upload, kind.value, settings)
    job_id = await run_in_threadpool(_queue, factory, saved, actor)
    jobs.start(engine=request.app.state.engine, job_id=job_id, settings=settings)
    return await run_in_threadpool(_fresh_view, factory, job_id)


def _fresh_view(factory: sessionmaker[Session], job_id: int) -> JobView:
    with factory() as session:
        job = session.get(ImportJob, job_id)
        if job is None:
            raise NotFound(f"no import job with id {job_id}")
        return _view(job)


def visible_job(session: Session, actor: Actor, job_id: int) -> ImportJob:
    """The job if the actor may see it (their own; admins any), a dead one marked failed."""
    jobs.fail_dead(session=session)
    query = select(ImportJob).where(ImportJob.id == job_id)
    if actor.role is not Role.admin:
        query = query.where(ImportJob.user_id == actor.user_id)
    job = session.scalar(query)
    if job is None:
        raise NotFound(f"no import job with id {job_id}")
    return job


@router.get("/{job_id}", summary="An import job's state, progress and summary")
def import_status(session: SessionDep, actor: Importer, job_id: int) -> JobView:
    """Status (queued, running, done, failed), rows done and position through the file, and
    once done `{"inserted", "updated", "unchanged", "rejected"}`."""
    return _view(visible_job(session, actor, job_id))


@router.get(
    "/{job_id}/rejects",
    summary="The rejected rows of an import (CSV)",
    response_class=FileResponse,
    responses={200: {"description": "The rejects CSV", "content": {"text/csv": {}}}},
)
def import_rejects(session: SessionDep, actor: Importer, job_id: int) -> FileResponse:
    """Every refused row as it was in the file, with its row number, column and reason."""
    job = visible_job(session, actor, job_id)
    if job.rejects_path is None or not Path(job.rejects_path).is_file():
        raise NotFound(f"import job {job_id} has no rejected rows")
    stem = Path(job.filename).stem
    return FileResponse(
        job.rejects_path, media_type="text/csv; charset=utf-8", filename=f"{stem}.rejects.csv"
    )
