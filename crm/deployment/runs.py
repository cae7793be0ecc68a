"""Usage imports from the admin page: the upload is stored and previewed, then imported by an RQ job
(``workflows.jobs.run_usage_import``) whose progress the page polls."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import current_app
from sqlalchemy import update
from werkzeug.utils import secure_filename

from crm.deployment.models import UsageImportRun
from crm.deployment.usage import UsageFileError, import_usage, preview
from crm.platform.extensions import db
from crm.platform.models import utcnow
from crm.platform.queue import QueueUnavailable, enqueue
from crm.referential.models import Offer


def start_preview(file_storage, offer: Offer, mapping: dict | None, *, user_id: int | None) -> UsageImportRun:
    """Store the upload and record its preview (raises UsageFileError, nothing kept, if unreadable)."""
    data = file_storage.read()
    reading = preview(data, offer, mapping)  # raises before anything is stored
    upload_dir = Path(current_app.config["UPLOAD_DIR"])
    upload_dir.mkdir(parents=True, exist_ok=True)
    filename = secure_filename(file_storage.filename or "usage.csv") or "usage.csv"
    stored = upload_dir / f"usage-{secrets.token_hex(8)}-{filename}"
    stored.write_bytes(data)
    run = UsageImportRun(
        offer_id=offer.id,
        filename=(file_storage.filename or filename)[:255],
        stored_path=str(stored),
        mapping=reading.mapping,
        status="apercu",
        preview={**reading.as_dict(), "header": reading.header, "sample": _sample(reading)},
        user_id=user_id,
    )
    db.session.add(run)
    db.session.commit()
    return run


def _sample(reading, limit: int = 10) -> list[dict]:
    return [
        {"line": line.number, "identifier": line.identifier, "month": line.month.strftime("%Y-%m"), "value": line.value}
        for line in reading.lines[:limit]
    ]


def confirm(run: UsageImportRun) -> bool:
    """Queue the import of a previewed run; False if it was not waiting for it (confirmed twice)."""
    claimed = db.session.execute(
        update(UsageImportRun)
        .where(UsageImportRun.id == run.id, UsageImportRun.status == "apercu")
        .values(status="en_attente")
    ).rowcount
    db.session.commit()
    if not claimed:
        return False
    try:
        job = enqueue("imports", "workflows.jobs.run_usage_import", run.id, job_timeout=1800, result_ttl=86400)
    except QueueUnavailable:
        return True
    db.session.refresh(run)
    run.job_id = job.id
    db.session.commit()
    return True


def execute_run(run_id: int, progress=None) -> dict:
    """The job's work: import the stored file with the run's mapping; the summary is stored on the run."""
    claimed = db.session.execute(
        update(UsageImportRun)
        .where(UsageImportRun.id == run_id, UsageImportRun.status == "en_attente")
        .values(status="en_cours")
    ).rowcount
    db.session.commit()
    if not claimed:
        return {}
    run = db.session.get(UsageImportRun, run_id)
    offer = db.session.get(Offer, run.offer_id)
    try:
        with open(run.stored_path, "rb") as handle:
            data = handle.read()
        summary = import_usage(
            data,
            offer,
            source=run.filename,
            mapping=run.mapping,
            user_id=run.user_id,
            origin=f"import d'usage n°{run_id}",
            progress=progress,
        )
    except (UsageFileError, OSError) as error:
        db.session.rollback()
        run = db.session.get(UsageImportRun, run_id)
        run.status, run.error, run.finished_at = "echoue", str(error)[:1000], utcnow()
        db.session.commit()
        return {"error": str(error)}
    run = db.session.get(UsageImportRun, run_id)
    run.status, run.summary, run.finished_at = "termine", summary.as_dict(), utcnow()
    db.session.commit()
    if run.stored_path and os.path.exists(run.stored_path):
        os.remove(run.stored_path)
    return summary.as_dict()
