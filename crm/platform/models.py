"""Cross-cutting records: the domain-event outbox and the audit trail.

Both are written by services in the same session, hence the same commit, as
the change they describe: a rolled-back change leaves neither behind.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from crm.platform.extensions import db

# BigInteger primary keys on PostgreSQL, INTEGER on SQLite (where only INTEGER autoincrements).
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


WAITING = "processed_at IS NULL AND dead_at IS NULL"
DEAD = "processed_at IS NULL AND dead_at IS NOT NULL"


class OutboxEvent(db.Model):
    """A domain event waiting to be dispatched (the workflows package reads it)."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    type: Mapped[str] = mapped_column(String(80))
    aggregate_type: Mapped[str] = mapped_column(String(40))
    aggregate_id: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(2000))
    # After a failed processing: not before this time (back-off). Set with dead_at after the last retry:
    # the event is parked in the dead-letter list until an admin replays it.
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dead_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # Partial: only the events not processed yet, which the worker claims and the dashboard's
        # freshness reads oldest first. An index over every row made PostgreSQL walk the millions of
        # processed events (by id) to find the first waiting one.
        Index("ix_outbox_events_waiting", "id", postgresql_where=text(WAITING), sqlite_where=text(WAITING)),
        Index("ix_outbox_events_dead", "id", postgresql_where=text(DEAD), sqlite_where=text(DEAD)),
        Index("ix_outbox_events_aggregate", "aggregate_type", "aggregate_id"),
    )


class AuditEntry(db.Model):
    """Who changed what, when: shown on the record's page."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Free text for changes not made by a person ("import FINESS", "seed").
    origin: Mapped[str | None] = mapped_column(String(80))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(20))
    changes: Mapped[dict] = mapped_column(JSON, default=dict)
    # The record whose history shows this entry (a contact's changes show on its structure,
    # even after the contact is deleted).
    parent_type: Mapped[str | None] = mapped_column(String(40))
    parent_id: Mapped[int | None] = mapped_column(BigInteger)

    user = db.relationship("User", lazy="joined")

    __table_args__ = (
        Index("ix_audit_entries_entity", "entity_type", "entity_id", "at"),
        Index("ix_audit_entries_parent", "parent_type", "parent_id", "at"),
    )


class IdempotencyKey(db.Model):
    """The first answer to an API write sent with an ``Idempotency-Key`` header, per user and key: a retry
    gets it back instead of writing again (see :mod:`crm.api.idempotency`). Written in the transaction of
    the write it answers, so a key is never stored without its record, nor a record without its key."""

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    # SHA-256 of the method, the path and the canonical JSON body: the same key for another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        Index("ux_idempotency_keys_user_key", "user_id", "key", unique=True),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )
