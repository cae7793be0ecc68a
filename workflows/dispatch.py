"""From the outbox to the handlers: claim pending events in batches, run the rules and the registered
consumers (the indicators' read model), mark the events processed, all in one transaction.

Exactly-once comes from the database, not from Redis: a batch's effects and its ``processed_at``
commit together, so a worker killed mid-batch leaves its events pending (its transaction is rolled
back) and a batch claimed by one worker is skipped by the others (``FOR UPDATE SKIP LOCKED``).
Redis only says "there is work": after a commit that wrote events, one drain job is enqueued (at
most one waiting at a time), and the periodic sweep (see :mod:`workflows.sweep`) enqueues one for
whatever was missed, e.g. events written while Redis was down.

A failing event is retried with back-off (``RETRY_DELAYS``) and, after the last retry, parked in the
dead-letter list (``dead_at``) for an admin to see and replay.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import event as orm_events
from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from crm.platform.events import OUTBOX_WRITTEN, note_outbox_written
from crm.platform.extensions import db
from crm.platform.locking import for_update, sqlite_write_lock
from crm.platform.models import OutboxEvent, utcnow
from crm.platform.outbox_status import OutboxStatus, dead_condition, outbox_status
from crm.platform.queue import QueueUnavailable, mark_unavailable, redis_connection
from crm.platform.sql import among
from workflows.models import RuleRun, WorkflowRuleState
from workflows.registry import DomainEvent, Rule, all_consumers, all_rules, event_rules_by_trigger

logger = logging.getLogger("workflows.dispatch")

QUEUE = "outbox"
DRAIN_JOB = "workflows.jobs.drain_outbox"
BATCH_SIZE = 500
# Seconds before the 1st, 2nd... retry of a failed event; after the last one it is parked (dead letter).
RETRY_DELAYS = (10, 60, 300, 1800, 7200)
DRAIN_FLAG = "maillage:outbox:drain-queued"
DRAIN_FLAG_TTL = 60  # a lost drain job (Redis flushed) blocks nothing longer than this: the sweep follows


@dataclass
class BatchResult:
    claimed: int = 0
    processed: int = 0
    failed: int = 0  # to be retried after a back-off
    dead: int = 0  # parked in the dead-letter list
    errors: dict[int, str] = field(default_factory=dict)
    more_due: bool = False  # a drain stopped on its time limit with events still due

    def add(self, other: BatchResult) -> None:
        self.claimed += other.claimed
        self.processed += other.processed
        self.failed += other.failed
        self.dead += other.dead
        self.errors.update(other.errors)

    def as_dict(self) -> dict:
        return {"claimed": self.claimed, "processed": self.processed, "failed": self.failed, "dead": self.dead}


# --- claiming --------------------------------------------------------------------------------------


def _due_condition(now):
    return (
        OutboxEvent.processed_at.is_(None),
        OutboxEvent.dead_at.is_(None),
        or_(OutboxEvent.next_attempt_at.is_(None), OutboxEvent.next_attempt_at <= now),
    )


def _claim(limit: int) -> list[DomainEvent]:
    """Lock up to ``limit`` due events, oldest first; rows another worker holds are skipped."""
    sqlite_write_lock()  # SQLite has no row locks: two workers cannot claim the same events under it
    rows = db.session.execute(
        for_update(
            select(
                OutboxEvent.id,
                OutboxEvent.type,
                OutboxEvent.aggregate_type,
                OutboxEvent.aggregate_id,
                OutboxEvent.payload,
                OutboxEvent.actor_id,
                OutboxEvent.created_at,
            )
            .where(*_due_condition(utcnow()))
            .order_by(OutboxEvent.id)
            .limit(limit),
            skip_locked=True,
        )
    ).all()
    return [DomainEvent(*row) for row in rows]


# --- rules -------------------------------------------------------------------------------------------


def rule_states() -> dict[str, WorkflowRuleState]:
    """Every rule's state row, created (enabled, default settings) the first time it is needed."""
    states = {state.name: state for state in db.session.scalars(select(WorkflowRuleState))}
    missing = [rule for rule in all_rules() if rule.name not in states]
    for rule in missing:
        try:
            with db.session.begin_nested():
                state = WorkflowRuleState(name=rule.name, enabled=True, settings={}, runs=0, failures=0)
                db.session.add(state)
        except IntegrityError:  # another worker created it first
            state = db.session.get(WorkflowRuleState, rule.name)
        states[rule.name] = state
    return states


def settings_for(rule, state: WorkflowRuleState | None) -> dict:
    return {**rule.defaults, **((state.settings if state else None) or {})}


@dataclass
class _RuleTally:
    runs: int = 0
    failures: int = 0
    last_error: str | None = None


def _run_rules(events: list[DomainEvent], failures: dict[int, str]) -> dict[str, _RuleTally]:
    """Run the enabled rules of each event, each action in a savepoint: a failing rule fails its event only.

    A rule acts once per event: its run (``run_key``) commits with the event marked processed, and a
    later attempt of the event (another rule failed, or it was replayed) skips the rules already run.
    """
    by_trigger = event_rules_by_trigger()
    concerned = [event for event in events if event.type in by_trigger]
    if not concerned:
        return {}
    states = rule_states()
    keys = {
        (rule.name, event.id): f"{rule.name}:event:{event.id}" for event in concerned for rule in by_trigger[event.type]
    }
    done = set(db.session.scalars(select(RuleRun.run_key).where(among(RuleRun.run_key, list(keys.values())))))
    tallies: dict[str, _RuleTally] = {}
    runs: list[dict] = []
    now = utcnow()
    for event in concerned:
        for rule in by_trigger[event.type]:
            state = states.get(rule.name)
            key = keys[rule.name, event.id]
            if (state is not None and not state.enabled) or key in done:
                continue
            settings = settings_for(rule, state)
            try:
                # Conditions only read: no savepoint (two round trips) for the many events they turn down.
                if not rule.condition(event, settings):
                    continue
                with db.session.begin_nested():
                    detail = rule.action(event, settings)
            except Exception as error:  # a rule's bug or a refused change must not stop the batch
                message = f"{type(error).__name__}: {error}"[:1900]
                logger.warning("Rule %s failed on event %s (%s): %s", rule.name, event.id, event.type, message)
                _tally(tallies, rule.name, message)
                failures[event.id] = f"{rule.name} : {message}"
                runs.append(
                    {
                        "rule": rule.name,
                        "run_key": None,
                        "event_id": event.id,
                        "at": now,
                        "outcome": "echec",
                        "detail": message,
                    }
                )
                continue
            _tally(tallies, rule.name)
            runs.append(
                {
                    "rule": rule.name,
                    "run_key": key,
                    "event_id": event.id,
                    "at": now,
                    "outcome": "ok",
                    "detail": (detail or "")[:2000] or None,
                }
            )
    if runs:
        db.session.execute(insert(RuleRun.__table__), runs)
    return tallies


def _tally(tallies: dict[str, _RuleTally], name: str, error: str | None = None) -> None:
    tally = tallies.setdefault(name, _RuleTally())
    tally.runs += 1
    if error is not None:
        tally.failures += 1
        tally.last_error = error


def _save_tallies(tallies: dict[str, _RuleTally], now) -> None:
    # In name order: two workers' batches lock the same rows in the same order, so they wait for each
    # other instead of deadlocking. Called last in the batch: a rule's row stays locked until the commit,
    # and a batch holding it from its start would make the other workers' batches wait for it whole.
    for name, tally in sorted(tallies.items()):
        if not tally.runs:
            continue
        values = {"runs": WorkflowRuleState.runs + tally.runs, "last_run_at": now}
        if tally.failures:
            values.update(
                failures=WorkflowRuleState.failures + tally.failures, last_failure_at=now, last_error=tally.last_error
            )
        db.session.execute(update(WorkflowRuleState).where(WorkflowRuleState.name == name).values(**values))


# --- a batch -----------------------------------------------------------------------------------------


def _run_consumers(events: list[DomainEvent]) -> None:
    """The registered consumers (the indicators' read model) follow the batch, in its transaction, after the
    rules; one that raises fails the whole batch (see :func:`process_batch`)."""
    for consumer in all_consumers():
        consumer.apply(events)


def _prepare_consumers() -> None:
    for consumer in all_consumers():
        consumer.prepare()


def _finish(events: list[DomainEvent], failures: dict[int, str], result: BatchResult) -> None:
    now = utcnow()
    ok_ids = [event.id for event in events if event.id not in failures]
    if ok_ids:
        db.session.execute(
            update(OutboxEvent)
            .where(among(OutboxEvent.id, ok_ids))
            .values(processed_at=now, attempts=OutboxEvent.attempts + 1, next_attempt_at=None, last_error=None)
            .execution_options(synchronize_session=False)
        )
        result.processed += len(ok_ids)
    if failures:
        attempts = dict(
            db.session.execute(
                select(OutboxEvent.id, OutboxEvent.attempts).where(OutboxEvent.id.in_(list(failures)))
            ).all()
        )
        for event_id, message in failures.items():
            tries = attempts.get(event_id, 0) + 1
            values = {"attempts": tries, "last_error": message[:2000]}
            if tries > len(RETRY_DELAYS):
                values.update(dead_at=now, next_attempt_at=None)
                result.dead += 1
                logger.error("Event %s parked in the dead-letter list after %s attempts: %s", event_id, tries, message)
            else:
                values["next_attempt_at"] = now + timedelta(seconds=RETRY_DELAYS[tries - 1])
                result.failed += 1
            db.session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id == event_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        result.errors.update(failures)


def _process(events: list[DomainEvent], result: BatchResult) -> None:
    failures: dict[int, str] = {}
    tallies = _run_rules(events, failures)
    _run_consumers(events)
    _save_tallies(tallies, utcnow())
    _finish(events, failures, result)
    db.session.commit()


def process_batch(limit: int = BATCH_SIZE) -> BatchResult:
    """Claim and process one batch; returns what happened. Never leaves a transaction open."""
    result = BatchResult()
    _prepare_consumers()
    events = _claim(limit)
    result.claimed = len(events)
    if not events:
        db.session.rollback()
        return result
    try:
        _process(events, result)
    except Exception:
        # Something failed outside a rule's savepoint (a consumer, most likely): find the
        # event(s) at fault by processing them one at a time, each in its own transaction.
        logger.exception("Batch of %s events failed; processing them one by one", len(events))
        db.session.rollback()
        result = BatchResult(claimed=len(events))
        for event in events:
            _process_alone(event, result)
    return result


def _process_alone(event: DomainEvent, result: BatchResult) -> None:
    if not _claim_one(event.id):
        db.session.rollback()
        return
    try:
        _process([event], result)
    except Exception as error:
        db.session.rollback()
        message = f"{type(error).__name__}: {error}"
        logger.warning("Event %s (%s) failed: %s", event.id, event.type, message)
        _claim_one(event.id)
        _finish([event], {event.id: message}, result)
        db.session.commit()


def _claim_one(event_id: int) -> bool:
    return (
        db.session.scalar(
            for_update(
                select(OutboxEvent.id).where(OutboxEvent.id == event_id, *_due_condition(utcnow())), skip_locked=True
            )
        )
        is not None
    )


def drain(max_seconds: float = 20.0, limit: int = BATCH_SIZE, backlog=None) -> BatchResult:
    """Process batches until nothing is due or ``max_seconds`` have passed; then ``more_due`` says that
    another job should follow (a job that never ends would hold its worker and its job timeout).

    ``backlog`` is called once, after the first full batch: there is a backlog, and the drain job uses it
    to enqueue a follow-up job at once (at most one waits), which another idle worker takes, so that the
    workers share a backlog instead of one draining it while the others wait for its time limit."""
    total = BatchResult()
    deadline = time.monotonic() + max_seconds
    while True:
        result = process_batch(limit)
        total.add(result)
        if result.claimed < limit:
            return total
        if backlog is not None:
            backlog()
            backlog = None
        if time.monotonic() >= deadline:
            total.more_due = True
            return total


def process_pending(limit: int = BATCH_SIZE) -> BatchResult:
    """Process everything due now, in this process (the CLI and tests; workers run :func:`drain`)."""
    total = BatchResult()
    while True:
        result = process_batch(limit)
        total.add(result)
        if result.claimed == 0 or result.claimed == result.failed + result.dead:
            return total


# --- dead letters ------------------------------------------------------------------------------------


def dead_letters(limit: int = 200) -> list[OutboxEvent]:
    """The parked events, most recent first."""
    return list(
        db.session.scalars(select(OutboxEvent).where(*dead_condition()).order_by(OutboxEvent.id.desc()).limit(limit))
    )


def replay(event_ids: list[int] | None) -> list[int]:
    """Put parked events back in line (the admin's "Rejouer"; ``None``: every dead letter) with a fresh
    set of retries; returns the ids replayed. The caller commits; the drain job follows the commit."""
    if event_ids is not None and not event_ids:
        return []
    statement = update(OutboxEvent).where(*dead_condition())
    if event_ids is not None:
        statement = statement.where(OutboxEvent.id.in_(event_ids))
    replayed = (
        db.session.execute(
            statement.values(dead_at=None, next_attempt_at=None, attempts=0)
            .returning(OutboxEvent.id)
            .execution_options(synchronize_session=False)
        )
        .scalars()
        .all()
    )
    if replayed:
        note_outbox_written()
    return sorted(replayed)


# --- after commit: tell a worker ---------------------------------------------------------------------


def enqueue_drain(connection=None) -> bool:
    """Enqueue a drain job unless one is already waiting; True if this call enqueued it.

    Never raises: with Redis down the events wait for the sweep, and for a few seconds no request even
    tries again (the circuit breaker of :mod:`crm.platform.queue`), so none waits on a dead Redis.
    """
    try:
        if connection is None:
            connection = redis_connection()
        if not connection.set(DRAIN_FLAG, "1", nx=True, ex=DRAIN_FLAG_TTL):
            return False
        Queue(QUEUE, connection=connection).enqueue(
            DRAIN_JOB, job_timeout=300, result_ttl=600, failure_ttl=7 * 86400, description="outbox drain"
        )
        return True
    except QueueUnavailable:  # the breaker is open, or no queue is configured (a script, a bench):
        return False  # `crm outbox process` does the work
    except RedisError as error:
        mark_unavailable()
        logger.warning("Outbox drain not enqueued (%s): the sweep will pick the events up.", error)
        return False


def _after_commit(session) -> None:
    if session.info.pop(OUTBOX_WRITTEN, None):
        enqueue_drain()


def _after_rollback(session) -> None:
    session.info.pop(OUTBOX_WRITTEN, None)


def register(session_factory) -> None:
    """Install the after-commit hook on the app's session, once."""
    for name, listener in (("after_commit", _after_commit), ("after_rollback", _after_rollback)):
        if not orm_events.contains(session_factory, name, listener):
            orm_events.listen(session_factory, name, listener)


__all__ = [
    "BatchResult",
    "OutboxStatus",
    "QUEUE",
    "Rule",
    "dead_letters",
    "drain",
    "enqueue_drain",
    "outbox_status",
    "process_batch",
    "process_pending",
    "register",
    "replay",
]
