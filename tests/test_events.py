"""record_change: the audit entry and the outbox event it writes, in the caller's transaction."""

from datetime import date

from sqlalchemy import func, select

from crm.platform.events import record_change
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent


def test_one_change_writes_its_audit_entry_and_its_event(make_user):
    user = make_user("admin")
    before = db.session.scalar(select(func.max(OutboxEvent.id))) or 0
    record_change(
        entity_type="contact",
        entity_id=42,
        action="update",
        changes={"email": ["a@example.org", "b@example.org"], "since": [None, date(2026, 1, 2)]},
        event_type="contact.updated",
        payload={"contact_id": 42, "on": date(2026, 1, 2), "ids": {3, 1}},
        user_id=user.id,
        origin="import",
        parent=("structure", 7),
    )
    db.session.commit()
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "contact")).one()
    assert (entry.user_id, entry.origin, entry.entity_id, entry.action, entry.parent_type, entry.parent_id) == (
        user.id,
        "import",
        42,
        "update",
        "structure",
        7,
    )
    assert entry.changes == {"email": ["a@example.org", "b@example.org"], "since": [None, "2026-01-02"]}
    assert entry.at is not None and entry.user.id == user.id
    event = db.session.scalars(select(OutboxEvent).where(OutboxEvent.id > before)).one()
    assert (event.type, event.aggregate_type, event.aggregate_id, event.actor_id) == (
        "contact.updated",
        "contact",
        42,
        user.id,
    )
    assert event.payload == {"contact_id": 42, "on": "2026-01-02", "ids": [1, 3]}
    assert (event.processed_at, event.attempts, event.last_error) == (None, 0, None)
    assert event.created_at is not None


def test_a_rolled_back_change_leaves_neither_row():
    events = db.session.scalar(select(func.count()).select_from(OutboxEvent))
    record_change(
        entity_type="structure",
        entity_id=1,
        action="delete",
        changes=None,
        event_type="structure.deleted",
        payload={"structure_id": 1},
    )
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(OutboxEvent)) == events
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.entity_type == "structure", AuditEntry.action == "delete")
        )
        == 0
    )
