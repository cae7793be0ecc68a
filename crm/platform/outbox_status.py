"""How far behind the outbox is: the events not processed yet, the oldest one's age, the dead letters.

Read by the admin's outbox page, ``crm outbox status`` and the indicators' freshness ("mis à jour il y a
2 s"): a domain reads it here, without importing the dispatcher (:mod:`workflows.dispatch`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

from sqlalchemy import func, select

from crm.platform.extensions import db
from crm.platform.models import OutboxEvent, utcnow


def dead_condition():
    """The parked events (dead letters): failed after the last retry, not processed."""
    return OutboxEvent.dead_at.is_not(None), OutboxEvent.processed_at.is_(None)


@dataclass(frozen=True)
class OutboxStatus:
    pending: int  # not processed yet, dead letters excepted
    oldest_pending_at: object  # datetime | None
    dead: int
    retrying: int = 0  # of the pending: failed, waiting for their next attempt

    @property
    def age_seconds(self) -> float:
        """How stale the indicators may be: the age of the oldest event not processed yet (0 if none)."""
        if self.oldest_pending_at is None:
            return 0.0
        return max(0.0, (utcnow() - self.oldest_pending_at).total_seconds())


def outbox_status() -> OutboxStatus:
    """Counts of the events not processed (a few index lookups: the processed ones are not read)."""
    waiting = (OutboxEvent.processed_at.is_(None), OutboxEvent.dead_at.is_(None))
    oldest = db.session.execute(
        select(OutboxEvent.created_at).where(*waiting).order_by(OutboxEvent.id).limit(1)
    ).scalar()
    pending = retrying = 0
    if oldest is not None:
        pending, retrying = db.session.execute(
            select(func.count(), func.count(OutboxEvent.next_attempt_at)).where(*waiting)
        ).one()
    dead = db.session.scalar(select(func.count()).select_from(OutboxEvent).where(*dead_condition()))
    if oldest is not None and oldest.tzinfo is None:  # SQLite gives naive UTC
        oldest = oldest.replace(tzinfo=UTC)
    return OutboxStatus(pending=pending or 0, oldest_pending_at=oldest, dead=dead or 0, retrying=retrying or 0)


__all__ = ["OutboxStatus", "dead_condition", "outbox_status"]
