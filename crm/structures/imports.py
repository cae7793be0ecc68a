"""FINESS imports started from the admin page: stored file, RQ job, run record."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import current_app
from sqlalchemy import update
from werkzeug.utils import secure_filename

from crm.core.models import utcnow
from crm.extensions import db
from crm.queue import QueueUnavailable, enqueue
from crm.structures.models import ImportRun


def start_import(file_storage, *, all_regions: bool, user_id: int | None) -> ImportRun:
    """Store the upload, record the run, enqueue the job. The run stays pending if Redis is down."""
    upload_dir = Path(current_app.config["UPLOAD_DIR"])
    upload_dir.mkdir(parents=True, exist_ok=True)
    filename = secure_filename(file_storage.filename or "finess.csv") or "finess.csv"
    stored = upload_dir / f"{secrets.token_hex(8)}-{filename}"
    file_storage.save(stored)
    run = ImportRun(filename=filename[:255], stored_path=str(stored), all_regions=all_regions, user_id=user_id)
    db.session.add(run)
    db.session.commit()
    enqueue_run(run)
    return run


def can_relaunch(run: ImportRun, job_state: str | None) -> bool:
    """A run that never reached the queue, whose worker died, or that failed unexpectedly.

    Its file must still be there (a file refused as not FINESS is removed: nothing to retry).
    """
    if not run.stored_path or not os.path.exists(run.stored_path):
        return False
    if run.status == "échoué":
        return True
    if run.status == "en_attente" and run.job_id is None:
        return True
    return run.status in ("en_attente", "en_cours") and job_state in (None, "failed", "stopped", "canceled")


def relaunch(run: ImportRun) -> None:
    run.status, run.job_id, run.error = "en_attente", None, None
    db.session.commit()
    enqueue_run(run)


def enqueue_run(run: ImportRun) -> None:
    try:
        job = enqueue("imports", "workflows.jobs.run_finess_import", run.id, job_timeout=1800,
                      result_ttl=86400)
    except QueueUnavailable:
        return
    run.job_id = job.id
    db.session.commit()


def execute_import_run(import_run_id: int, progress=None) -> dict:
    """Run a recorded import (called by the RQ job); the summary is stored on the run."""
    from crm.structures.finess import FinessFileError, import_finess

    # Claim the run atomically: a second job for the same run (relaunched twice, two workers)
    # finds nothing to do instead of importing again.
    claimed = db.session.execute(
        update(ImportRun).where(ImportRun.id == import_run_id, ImportRun.status == "en_attente")
        .values(status="en_cours")).rowcount
    db.session.commit()
    if not claimed:
        return {}
    run = db.session.get(ImportRun, import_run_id)
    try:
        summary = import_finess(run.stored_path, all_regions=run.all_regions, user_id=run.user_id,
                                origin=f"import FINESS n°{run.id}", progress=progress)
    except FinessFileError as error:
        db.session.rollback()
        run = db.session.get(ImportRun, import_run_id)
        run.status, run.error, run.finished_at = "échoué", str(error), utcnow()
        db.session.commit()
        _remove(run)
        return {"error": str(error)}
    except Exception as error:  # recorded for the admin, then re-raised so RQ retries / fails visibly
        db.session.rollback()
        run = db.session.get(ImportRun, import_run_id)
        run.status, run.error, run.finished_at = "échoué", f"Erreur inattendue : {error}", utcnow()
        db.session.commit()
        raise
    run = db.session.get(ImportRun, import_run_id)
    run.status, run.summary, run.finished_at = "terminé", summary.as_dict(), utcnow()
    db.session.commit()
    _remove(run)
    return summary.as_dict()


def _remove(run: ImportRun) -> None:
    if run.stored_path and os.path.exists(run.stored_path):
        os.remove(run.stored_path)
