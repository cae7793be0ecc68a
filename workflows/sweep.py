"""The periodic sweep, run by RQ's scheduler (``rq worker --with-scheduler``), every
``OUTBOX_SWEEP_SECONDS``: it re-arms itself, enqueues a drain for events no job was enqueued for
(written while Redis was down, whose job was lost with a Redis restart or a killed worker, or whose
retry back-off has passed), enqueues the emails left pending, and runs the scheduled rules that are
due (reminders, surveys, idle opportunities).

One chain of sweeps at a time: a flag in Redis (``SWEEP_FLAG``, with a TTL a few times the interval)
holds the id of the sweep job scheduled next. Whoever finds it missing schedules one: a worker's
heartbeat (:class:`workflows.worker.Worker`) and ``make run``; a running sweep schedules its successor
only if the flag is still its own. If Redis loses everything, the flag goes with the scheduled job
and the next heartbeat starts a new chain; if the flag expired while its job was still waiting (the
scheduler was down), a second chain starts and the first one ends at its next run.
"""

from __future__ import annotations

import logging
from datetime import UTC, timedelta
from uuid import uuid4

from flask import current_app
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from crm.platform.extensions import db
from crm.platform.locking import sqlite_write_lock
from crm.platform.models import utcnow
from crm.platform.queue import QueueUnavailable, redis_connection
from workflows.dispatch import DRAIN_FLAG, QUEUE, _due_condition, enqueue_drain, rule_states, settings_for
from workflows.models import RuleRun, WorkflowRuleState
from workflows.registry import all_catch_ups, all_consumers, scheduled_rules

logger = logging.getLogger("workflows.sweep")

SWEEP_JOB = "workflows.jobs.sweep"
SWEEP_FLAG = "maillage:outbox:sweep-scheduled"
DEFAULT_INTERVAL = 15

# Atomically: if the flag is missing or still names the running sweep, hand it to its successor.
_PASS_ON = """
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""


def flag_ttl(interval: int) -> int:
    return max(60, interval * 4)


def ensure_scheduled(connection, interval: int = DEFAULT_INTERVAL, *, successor_of: str | None = None) -> bool:
    """Schedule the next sweep unless one is scheduled already; True if this call scheduled it.

    ``successor_of``: the id of the running sweep job, which may pass the flag on to its successor.
    """
    job_id = f"outbox-sweep-{uuid4().hex}"
    if successor_of is None:
        taken = connection.set(SWEEP_FLAG, job_id, nx=True, ex=flag_ttl(interval))
    else:
        taken = connection.eval(_PASS_ON, 1, SWEEP_FLAG, successor_of, job_id, flag_ttl(interval))
    if not taken:
        return False
    Queue(QUEUE, connection=connection).enqueue_in(
        timedelta(seconds=interval),
        SWEEP_JOB,
        job_id=job_id,
        job_timeout=600,
        result_ttl=300,
        failure_ttl=7 * 86400,
        description="outbox sweep",
    )
    return True


def sweep_interval() -> int:
    return int(current_app.config.get("OUTBOX_SWEEP_SECONDS", DEFAULT_INTERVAL))


def arm(connection=None) -> bool:
    """From the app (dev server): make sure a sweep chain exists. Never raises."""
    try:
        return ensure_scheduled(connection or redis_connection(), sweep_interval())
    except (QueueUnavailable, RedisError) as error:
        logger.warning("Sweep not scheduled (%s)", error)
        return False


def run_sweep(connection=None, *, reschedule: bool = True, job_id: str | None = None) -> dict:
    """One sweep; returns what it did. Safe to run at any time, as often as wanted.

    ``reschedule``: the periodic job schedules its successor first (so that a failure below does not
    end the chain); ``job_id`` is its own id. The CLI and the admin's button sweep once, rescheduling
    nothing. Each step runs even if another failed; the failures are logged and returned.
    """
    connection = connection or redis_connection()
    report: dict = {"rescheduled": False, "drain_enqueued": False, "emails_enqueued": 0, "scheduled": {}, "errors": []}
    if reschedule:
        report["rescheduled"] = ensure_scheduled(connection, sweep_interval(), successor_of=job_id or "")
    for step in (_consumers_prepared, _drain_if_due, _catch_ups, _scheduled_rules):
        try:
            step(connection, report)
        except Exception as error:  # one step's failure (a rule's query, SMTP...) must not stop the others
            db.session.rollback()
            logger.exception("Sweep step %s failed", step.__name__)
            report["errors"].append(f"{step.__name__}: {type(error).__name__}: {error}")
    return report


def _consumers_prepared(_connection, _report: dict) -> None:
    # The indicators' read model is built if it never was: a database migrated from before the indicators,
    # or emptied by hand.
    for consumer in all_consumers():
        consumer.prepare()


def _drain_if_due(connection, report: dict) -> None:
    due = db.session.scalar(select(exists().where(*_due_condition(utcnow()))))
    db.session.rollback()
    if due:
        # The drain flag may be left by a job Redis lost or a killed worker ran: the sweep does not
        # wait for its TTL. At worst a second drain job runs and finds the events already claimed.
        connection.delete(DRAIN_FLAG)
        report["drain_enqueued"] = enqueue_drain(connection)


def _catch_ups(_connection, report: dict) -> None:
    for catch_up in all_catch_ups():  # the emails left pending (workflows/rules/pending_emails.py)...
        report.update(catch_up.run())


def _scheduled_rules(_connection, report: dict) -> None:
    report["scheduled"] = run_scheduled_rules()


def run_scheduled_rules(now=None, *, force: bool = False) -> dict[str, int]:
    """Run the enabled scheduled rules whose interval has passed; each subject is acted on once ever."""
    now = now or utcnow()
    done: dict[str, int] = {}
    states = rule_states()
    db.session.commit()
    for rule in scheduled_rules():
        state = states[rule.name]
        if not state.enabled:
            continue
        last = state.last_run_at
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=UTC)
        if not force and last is not None and now - last < rule.every:
            continue
        try:
            done[rule.name] = _run_scheduled(rule, settings_for(rule, state), now)
        except Exception as error:  # its ``due`` query failed: the other rules still run
            db.session.rollback()
            logger.exception("Scheduled rule %s could not run", rule.name)
            db.session.execute(
                WorkflowRuleState.__table__.update()
                .where(WorkflowRuleState.name == rule.name)
                .values(
                    failures=WorkflowRuleState.failures + 1,
                    last_failure_at=now,
                    last_error=f"{type(error).__name__}: {error}"[:1900],
                )
            )
            db.session.commit()
    return done


def _open_transaction() -> None:
    """SQLite's driver opens no transaction before a write: the savepoint below would be the outermost
    transaction and its release a commit, keeping the run key of an action that then fails (never retried).
    A no-op write opens the transaction first, as the dispatcher's claim does."""
    sqlite_write_lock()


def _run_scheduled(rule, settings: dict, now) -> int:
    acted = failures = 0
    last_error = None
    for key, item in rule.due(now, settings):
        run_key = f"{rule.name}:{key}"
        _open_transaction()
        try:
            with db.session.begin_nested():
                db.session.add(RuleRun(rule=rule.name, run_key=run_key, at=now, outcome="ok"))
                db.session.flush()  # the unique run_key: a second sweep (or a race) stops here
        except IntegrityError:
            continue
        try:
            with db.session.begin_nested():
                detail = rule.action(item, settings)
                run = db.session.scalar(select(RuleRun).where(RuleRun.run_key == run_key))
                run.detail = (detail or "")[:2000] or None
            db.session.commit()
            acted += 1
        except Exception as error:
            db.session.rollback()
            failures += 1
            last_error = f"{type(error).__name__}: {error}"[:1900]
            logger.warning("Scheduled rule %s failed for %s: %s", rule.name, key, last_error)
            db.session.add(
                RuleRun(rule=rule.name, run_key=None, at=now, outcome="echec", detail=f"{key} : {last_error}")
            )
            db.session.commit()
    values = {"last_run_at": now, "runs": WorkflowRuleState.runs + acted + failures}
    if failures:
        values.update(failures=WorkflowRuleState.failures + failures, last_failure_at=now, last_error=last_error)
    db.session.execute(WorkflowRuleState.__table__.update().where(WorkflowRuleState.name == rule.name).values(**values))
    db.session.commit()
    return acted


__all__ = ["arm", "ensure_scheduled", "run_scheduled_rules", "run_sweep"]
