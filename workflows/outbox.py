"""What an admin does with the outbox, from the "File d'événements" page or ``crm outbox``: replay the
dead letters, ask for a sweep now, list the events waiting for a retry."""

from __future__ import annotations

from sqlalchemy import select

from crm.platform.events import record_change
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent
from crm.platform.queue import QueueUnavailable, enqueue
from workflows.dispatch import QUEUE, dead_letters, outbox_status, replay
from workflows.sweep import SWEEP_JOB

__all__ = ["dead_letters", "outbox_status", "replay_dead_letters", "request_sweep", "retrying"]


def retrying(limit: int = 100) -> list[OutboxEvent]:
    """Events that failed and wait for their next attempt (back-off), soonest first."""
    return list(
        db.session.scalars(
            select(OutboxEvent)
            .where(
                OutboxEvent.processed_at.is_(None),
                OutboxEvent.dead_at.is_(None),
                OutboxEvent.next_attempt_at.is_not(None),
            )
            .order_by(OutboxEvent.next_attempt_at, OutboxEvent.id)
            .limit(limit)
        )
    )


def replay_dead_letters(event_ids: list[int] | None, *, user_id: int | None, origin: str | None = None) -> list[int]:
    """Put dead letters back in line (``None``: all of them), each replay audited; commits.

    The after-commit hook enqueues a drain job; with Redis down, the sweep does it later.
    """
    ids = replay(event_ids)
    if ids:
        types = dict(db.session.execute(select(OutboxEvent.id, OutboxEvent.type).where(OutboxEvent.id.in_(ids))).all())
        for event_id in ids:
            record_change(
                entity_type="outbox_event",
                entity_id=event_id,
                action="replay",
                changes={"dead_at": ["set", None], "attempts": ["reset", 0]},
                event_type="outbox.replayed",
                payload={"event_id": event_id, "type": types.get(event_id)},
                user_id=user_id,
                origin=origin,
            )
    db.session.commit()
    return ids


def request_sweep() -> bool:
    """Enqueue one sweep now (catch-up only: the periodic chain is left as it is); False if Redis is down."""

    try:
        enqueue(
            QUEUE,
            SWEEP_JOB,
            reschedule=False,
            job_timeout=600,
            result_ttl=300,
            failure_ttl=7 * 86400,
            description="outbox sweep (requested)",
        )
    except QueueUnavailable:
        return False
    return True
