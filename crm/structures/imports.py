"""FINESS import runs: uploaded on the admin page (stored file, RQ job) or run by the CLI.

Every run is recorded, whatever starts it, so that the admin page lists them all. A running
import beats a heartbeat in Redis every HEARTBEAT_SECONDS: when its worker dies (SIGKILL, lost
machine), the key expires after HEARTBEAT_TTL seconds and the page offers to relaunch it, instead
of waiting for RQ to notice (minutes later).
"""

from __future__ import annotations

import os
import secrets
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import null, update
from werkzeug.utils import secure_filename

from crm.platform import signals
from crm.platform.events import record_change
from crm.platform.extensions import db
from crm.platform.models import utcnow
from crm.platform.queue import QueueUnavailable, enqueue, mark_unavailable, redis_connection
from crm.structures.finess import FinessFileError, ImportSummary, import_finess
from crm.structures.models import ImportRun

HEARTBEAT_SECONDS = 10
HEARTBEAT_TTL = 30  # three beats missed: the process is gone
CLOSING_SAMPLE = 50  # structures to close shown in a refused import's preview


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


def can_relaunch(run: ImportRun, job_state: str | None, alive: bool | None = None) -> bool:
    """A run that never reached the queue, whose worker died, or that failed unexpectedly.

    ``alive`` is what the heartbeat says (None: unknown). A run "en cours" without a heartbeat has
    lost its worker even though RQ still calls the job started. Its file must still be there (a file
    refused as not FINESS is removed, a CLI run has none: nothing to retry).
    """
    if not run.stored_path or not os.path.exists(run.stored_path):
        return False
    if run.status == "échoué":
        return True
    if run.status == "en_attente" and run.job_id is None:
        return True
    if run.status == "en_cours" and alive is False:
        return True
    return run.status in ("en_attente", "en_cours") and job_state in (None, "failed", "stopped", "canceled")


def _heartbeat_key(run_id: int) -> str:
    return f"maillage:import-run:{run_id}:heartbeat"


def is_alive(run: ImportRun) -> bool | None:
    """Whether the process running ``run`` beat recently; None when Redis cannot say."""
    try:
        return bool(redis_connection().exists(_heartbeat_key(run.id)))
    except (QueueUnavailable, RedisError):
        return None


@contextmanager
def heartbeat(run_id: int):
    """Beat for ``run_id`` while the block runs, from a thread: the import itself is one long call.

    The first beat is written before the block starts, so a run is never "en cours" without one.
    Best effort: without Redis the page cannot tell a dead worker apart, as before.
    """
    key, stop = _heartbeat_key(run_id), threading.Event()
    try:
        connection = redis_connection()
    except QueueUnavailable:
        connection = None

    def beat() -> bool:
        try:
            return bool(connection.set(key, utcnow().isoformat(), ex=HEARTBEAT_TTL))
        except RedisError:
            return False

    def loop() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            beat()

    if connection is None or not beat():
        if connection is not None:
            mark_unavailable()
        yield
        return
    thread = threading.Thread(target=loop, name=f"import-heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def can_confirm(run: ImportRun) -> bool:
    """A refused upload whose file is still there (a CLI run is confirmed by running the command again)."""
    return run.status == "refusé" and bool(run.stored_path) and os.path.exists(run.stored_path)


def confirm_closures(run: ImportRun, user_id: int | None) -> bool:
    """Relaunch a refused run with its closures confirmed; False if it is no longer refused.

    The confirmation covers the closures the preview showed: if the registry changed since and the
    run would now close more (and more than the threshold), it is refused again with a new preview.
    """
    if not can_confirm(run):
        return False
    confirmed = (run.summary or {}).get("closures_refused", 0)
    claimed = db.session.execute(
        update(ImportRun)
        .where(ImportRun.id == run.id, ImportRun.status == "refusé")
        .values(status="en_attente", job_id=None, error=None, summary=null(), confirmed_closures=confirmed)
    ).rowcount
    if not claimed:  # confirmed twice (two tabs, a double click): the first one launched it
        db.session.rollback()
        return False
    record_change(
        entity_type="import_run",
        entity_id=run.id,
        action="confirm",
        user_id=user_id,
        origin="admin",
        changes={"confirmed_closures": [None, confirmed]},
        event_type="import_run.closures_confirmed",
        payload={"import_run_id": run.id, "confirmed_closures": confirmed},
    )
    db.session.commit()
    db.session.refresh(run)
    enqueue_run(run)
    return True


def relaunch(run: ImportRun) -> None:
    run.status, run.job_id, run.error = "en_attente", None, None
    db.session.commit()
    enqueue_run(run)


def enqueue_run(run: ImportRun) -> None:
    try:
        job = enqueue("imports", "workflows.jobs.run_finess_import", run.id, job_timeout=1800, result_ttl=86400)
    except QueueUnavailable:
        return
    run.job_id = job.id
    db.session.commit()


def execute_import_run(import_run_id: int, progress=None) -> dict:
    """Run a recorded import (called by the RQ job); the summary is stored on the run."""
    # The first beat comes before the claim: a run is never seen "en cours" without a heartbeat.
    with heartbeat(import_run_id):
        # Claim the run atomically: a second job for the same run (relaunched twice, two workers)
        # finds nothing to do instead of importing again.
        claimed = db.session.execute(
            update(ImportRun)
            .where(ImportRun.id == import_run_id, ImportRun.status == "en_attente")
            .values(status="en_cours")
        ).rowcount
        db.session.commit()
        if not claimed:
            return {}
        run = db.session.get(ImportRun, import_run_id)
        try:
            summary = _import_and_record(
                run, run.stored_path, progress=progress, confirmed_closures=run.confirmed_closures
            )
        except FinessFileError as error:  # recorded on the run: nothing for RQ to retry
            return {"error": str(error)}
        return summary.as_dict()


def import_from_cli(path, *, all_regions: bool, confirm_closures: bool):
    """Run ``flask crm import-finess``: recorded as a run (listed on the admin page), beating a heartbeat.

    Returns the ImportSummary; FinessFileError is raised once recorded.
    """
    run = ImportRun(
        filename=os.path.basename(str(path))[:255],
        stored_path=None,
        all_regions=all_regions,
        origin="cli",
        status="en_cours",
    )
    db.session.add(run)
    db.session.commit()
    with heartbeat(run.id):
        return _import_and_record(run, path, origin="cli", confirmed_closures=sys.maxsize if confirm_closures else None)


def _import_and_record(
    run: ImportRun, source, *, origin: str | None = None, progress=None, confirmed_closures: int | None = None
) -> ImportSummary:
    """Import ``source`` for ``run`` (already "en cours", its heartbeat beating) and record the outcome.

    Refused (too many closures): the summary is the preview, the uploaded file is kept for the
    confirmation. Done or not a FINESS file (FinessFileError, raised once recorded): the file is removed.
    """
    run_id = run.id
    try:
        summary = import_finess(
            source,
            all_regions=run.all_regions,
            user_id=run.user_id,
            origin=origin or f"import FINESS n°{run_id}",
            progress=progress,
            confirmed_closures=confirmed_closures,
        )
    except FinessFileError as error:
        db.session.rollback()
        run = db.session.get(ImportRun, run_id)
        run.status, run.error, run.finished_at = "échoué", str(error), utcnow()
        db.session.commit()
        _remove(run)
        raise
    except BaseException as error:  # recorded (a CLI run stopped by Ctrl+C too), then re-raised so RQ fails visibly
        db.session.rollback()
        run = db.session.get(ImportRun, run_id)
        run.status, run.error, run.finished_at = "échoué", f"Erreur inattendue : {error}", utcnow()
        db.session.commit()
        raise
    run = db.session.get(ImportRun, run_id)
    run.finished_at = utcnow()
    if summary.refused:
        run.status, run.error = "refusé", summary.refusal_message()
        run.summary = {**summary.as_dict(), "closing_sample": closing_sample(summary.closing)}
    else:
        run.status, run.error, run.summary = "terminé", None, summary.as_dict()
    db.session.commit()
    if not summary.refused:
        _remove(run)
    return summary


def closing_sample(closing: list[dict], limit: int = CLOSING_SAMPLE) -> dict:
    """The structures a refused import would close, those with a live project or an open opportunity first.

    ``{"flagged": n, "structures": [{id, finess_et, name, department_code, projects, opportunities}]}``
    """
    # The pipeline, above structures, answers the signal with its counts.
    counts: dict[str, dict[int, int]] = {"projects": {}, "opportunities": {}}
    for _receiver, answer in signals.structures_live_work.send(None):
        counts.update(answer)
    projects, opportunities = counts["projects"], counts["opportunities"]
    rows = [
        {**c, "projects": projects.get(c["id"], 0), "opportunities": opportunities.get(c["id"], 0)} for c in closing
    ]
    flagged = [r for r in rows if r["projects"] or r["opportunities"]]
    others = [r for r in rows if not (r["projects"] or r["opportunities"])]
    return {"flagged": len(flagged), "structures": (flagged + others)[:limit]}


def _remove(run: ImportRun) -> None:
    if run.stored_path and os.path.exists(run.stored_path):
        os.remove(run.stored_path)
