"""Files uploaded on the imports page, waiting for the user to confirm the column mapping.

An upload lives in this process's memory (`patron serve` runs one process) and in a folder of
its own under PATRON_IMPORT_DIR (default: the system's temporary directory); only the user who
uploaded it sees it. Confirming it queues an import job of `patron.imports.jobs`, the same
background job `/api/v1/imports` runs, which records progress and the summary in the database.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from patron.api.access import Actor
from patron.audit.service import record
from patron.config import Settings
from patron.db import now, unit_of_work
from patron.errors import InvalidInput, NotFound, PatronError
from patron.imports import jobs
from patron.imports.columns import Plan, RowError, parse_row, plan_columns
from patron.imports.duplicates import import_action
from patron.imports.kinds import KINDS, Options, kind_named
from patron.imports.models import ImportJob
from patron.imports.readers import CsvSource, open_source
from patron.imports.values import Cell

PREVIEW_ROWS = 5
CHUNK_BYTES = 1024 * 1024
SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx")
KEPT_UPLOADS = 50
RECENT_JOBS = 10


@dataclass(frozen=True)
class Column:
    """One column of the file and where it goes: a Patron field, or a custom field."""

    header: str
    field: str | None
    required: bool


@dataclass(frozen=True)
class PreviewRow:
    """One of the first data rows: its cells, and why it would be refused (if it would)."""

    number: int
    cells: list[str]
    problem: str | None


@dataclass(frozen=True)
class Preview:
    """How the file would be read: encoding, column mapping, first rows, a refusal if any."""

    encoding: str
    columns: list[Column]
    rows: list[PreviewRow]
    missing: list[str]
    error: str | None = None


@dataclass
class Upload:
    """An uploaded file, its preview, and the import job once the user confirmed it."""

    id: str
    user_id: int
    kind: str
    filename: str
    folder: Path
    size_bytes: int = 0
    created_at: datetime = field(default_factory=now)
    preview: Preview | None = None
    job_id: int | None = None

    @property
    def path(self) -> Path:
        """The uploaded file, under its own (sanitised) name."""
        return self.folder / self.filename


_uploads: dict[str, Upload] = {}
_lock = threading.Lock()


def _safe_name(filename: str) -> str:
    name = Path(filename.replace("\\", "/")).name.strip() or "upload.csv"
    if not name.lower().endswith(SUFFIXES):
        raise InvalidInput(f"'{name}' is not a CSV or XLSX file (.csv, .txt, .tsv or .xlsx)")
    return name


def _root(settings: Settings) -> Path:
    return Path(settings.import_dir or Path(tempfile.gettempdir()) / "patron-imports")


def create(
    *, user_id: int, kind: str, filename: str, chunks: Iterator[bytes], settings: Settings
) -> Upload:
    """Store an upload; refuse an unknown kind, another file type, an empty or a huge file."""
    if kind not in KINDS:
        raise InvalidInput(f"'{kind}' is not an import kind (use one of: {', '.join(KINDS)})")
    name = _safe_name(filename)
    _root(settings).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=_root(settings)))
    upload = Upload(secrets.token_urlsafe(12), user_id, kind, name, folder)
    with upload.path.open("wb") as out:
        for chunk in chunks:
            upload.size_bytes += len(chunk)
            if upload.size_bytes > settings.import_max_bytes:
                out.close()
                shutil.rmtree(folder, ignore_errors=True)
                limit = settings.import_max_bytes / 1024 / 1024
                raise InvalidInput(f"the file is larger than the {limit:,.0f} MB an upload may be")
            out.write(chunk)
    if upload.size_bytes == 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise InvalidInput("the file is empty: choose a CSV or XLSX file with a header row")
    with _lock:
        _uploads[upload.id] = upload
        _forget_oldest()
    return upload


def _forget_oldest() -> None:
    """Keep the newest uploads; an unconfirmed one's file goes with it (holding the lock)."""
    for upload in sorted(_uploads.values(), key=lambda u: u.created_at)[:-KEPT_UPLOADS]:
        del _uploads[upload.id]
        if upload.job_id is None:
            shutil.rmtree(upload.folder, ignore_errors=True)


def get(upload_id: str, user_id: int) -> Upload:
    """The user's own upload; anyone else's does not exist for them."""
    with _lock:
        upload = _uploads.get(upload_id)
    if upload is None or upload.user_id != user_id:
        raise NotFound(f"no upload {upload_id}: upload the file again")
    return upload


def _options(settings: Settings) -> Options:
    return Options(settings.default_region, ZoneInfo(settings.timezone), import_action(None))


def _cell_text(cell: Cell) -> str:
    return "" if cell is None else str(cell)


def preview(upload: Upload, settings: Settings) -> Preview:
    """Read the header and first rows as the import would: mapping, encoding, row checks."""
    spec = kind_named(upload.kind, _options(settings))
    try:
        source = open_source(upload.path)
    except PatronError as exc:
        upload.preview = Preview("", [], [], [], error=exc.message)
        return upload.preview
    try:
        encoding = source.encoding if isinstance(source, CsvSource) else "XLSX"
        lookup = {spec_field.name: spec_field for spec_field in spec.fields}
        missing = [f.name for f in spec.fields if f.required]
        error: str | None = None
        try:
            plan: Plan | None = plan_columns(spec.fields, source.headers, kind=spec.name)
        except PatronError as exc:
            plan, error = None, exc.message
        mapped = {index: f.name for f, index in plan.fields} if plan else {}
        columns = [
            Column(header, mapped.get(i), mapped.get(i) in lookup and lookup[mapped[i]].required)
            for i, header in enumerate(source.headers)
        ]
        if plan is not None:
            missing = []
        rows = []
        for number, cells in source.rows():
            problem = None
            if plan is not None:
                try:
                    parse_row(plan, number, cells)
                except RowError as exc:
                    problem = f"{exc.column}: {exc.reason}"
            rows.append(PreviewRow(number, [_cell_text(c) for c in cells], problem))
            if len(rows) >= PREVIEW_ROWS:
                break
    finally:
        source.close()
    upload.preview = Preview(encoding, columns, rows, missing if error else [], error)
    return upload.preview


def start(
    upload: Upload, actor: Actor, *, factory: sessionmaker[Session], engine: Engine,
    settings: Settings,
) -> int:  # fmt: skip
    """Queue the confirmed upload as an import job and run it; a second confirmation of the
    same upload answers the job already started instead of importing twice."""
    with _lock:
        if upload.job_id is not None:
            return upload.job_id
        if upload.preview is None or upload.preview.error:
            raise InvalidInput("this file cannot be imported: upload a corrected file")
        saved = jobs.Upload(upload.kind, upload.path, upload.filename, upload.size_bytes)
        with unit_of_work(factory) as session:
            jobs.fail_dead(session=session)
            job = jobs.create(session=session, upload=saved, user_id=actor.user_id)
            record(
                session=session, action=f"import.{upload.kind}", entity="import_job",
                entity_id=job.id, user_id=actor.user_id, file=upload.filename,
                size_bytes=upload.size_bytes,
            )  # fmt: skip
            upload.job_id = job.id
    jobs.start(engine=engine, job_id=upload.job_id, settings=settings)
    return upload.job_id


def recent(session: Session, actor: Actor) -> list[ImportJob]:
    """The user's latest import jobs (from this page or the API), newest first."""
    query = select(ImportJob).where(ImportJob.user_id == actor.user_id)
    return list(session.scalars(query.order_by(ImportJob.id.desc()).limit(RECENT_JOBS)))


def percent(job: ImportJob) -> int:
    """How far through the file the job is, as a whole percentage."""
    if job.status == "done":
        return 100
    return int(100 * min(job.position / job.total, 1.0)) if job.total else 0
