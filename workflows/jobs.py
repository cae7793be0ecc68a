"""RQ jobs. Each runs inside the app context of its worker process.

The entry points of the queued work, as the CLI is of the typed one: the outbox's drain and sweep, and the
domains' long or retried work (a FINESS import, sending an email), enqueued by these functions' paths.
"""

from __future__ import annotations

from redis.exceptions import RedisError
from rq import get_current_job

from crm.deployment.runs import execute_run as execute_usage_run
from crm.mail.delivery import deliver
from crm.platform.queue import QueueUnavailable, redis_connection
from crm.structures.imports import execute_import_run
from workflows.app import app_context
from workflows.dispatch import DRAIN_FLAG, drain, enqueue_drain
from workflows.sweep import run_sweep


def run_finess_import(import_run_id: int) -> dict:
    """Import an uploaded FINESS file, reporting progress in the job's meta for the progress bar."""
    job = get_current_job()

    def progress(done: int, total: int) -> None:
        if job is not None:
            job.meta["progress"] = {"done": done, "total": total}
            job.save_meta()

    with app_context():
        return execute_import_run(import_run_id, progress=progress)


def run_usage_import(run_id: int) -> dict:
    """Import a previewed usage file, reporting progress in the job's meta for the progress bar."""
    job = get_current_job()

    def progress(done: int, total: int) -> None:
        if job is not None:
            job.meta["progress"] = {"done": done, "total": total}
            job.save_meta()

    with app_context():
        return execute_usage_run(run_id, progress=progress)


class EmailNotSent(Exception):
    """Raised so that RQ retries the job with its back-off; the message row already says why."""


def send_email(message_id: int) -> dict:
    """Send one stored email (idempotent: a message already sent or kept is left alone)."""
    job = get_current_job()
    retries_left = (job.retries_left or 0) if job is not None else 0
    retry_in = job.get_retry_interval() if job is not None and retries_left else None
    with app_context():
        attempt = deliver(message_id, retries_left=retries_left, retry_in=retry_in)
    if attempt.outcome == "echec":
        raise EmailNotSent(f"email {message_id}: {attempt.error}")
    return attempt.as_dict()


def drain_outbox() -> dict:
    """Process the pending outbox events in batches (enqueued after commits and by the sweep)."""
    job = get_current_job()
    with app_context():
        # Cleared first: events committed from now on get a new job, none is missed. Redis failing
        # now is no reason not to drain: the database is what matters, the sweep clears a stale flag.
        # The job's own connection: Redis just handed it over, whatever the app's circuit breaker says
        # (it may still be open for a few seconds after a hang, from the web processes' failures).
        try:
            connection = job.connection if job is not None else redis_connection()
            connection.delete(DRAIN_FLAG)
        except (QueueUnavailable, RedisError):
            connection = None
        result = drain(backlog=lambda: enqueue_drain(connection))
        if result.more_due:  # stopped on its time limit: the next job takes over (maybe on another worker)
            enqueue_drain(connection)
        return result.as_dict()


def sweep(reschedule: bool = True) -> dict:
    """The periodic sweep (see workflows.sweep): re-arms itself, then catches up on what was missed.
    ``reschedule=False``: one catch-up now (the admin's "Lancer un balayage"), the chain left alone."""
    job = get_current_job()
    with app_context():
        # The job's own connection, as for the drain: the app's circuit breaker may still be open.
        return run_sweep(
            job.connection if job is not None else None,
            reschedule=reschedule,
            job_id=job.id if job is not None else None,
        )
