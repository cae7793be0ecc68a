"""Bulk writes (COPY on PostgreSQL): values that COPY's text format must escape come back as they were, and
a staged table is usable again after a rollback."""

from datetime import date

from sqlalchemy import select, text

from crm.platform.bulk import Stage, bulk_insert
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, utcnow

AWKWARD = ["tab\there", "line\nbreak", "back\\slash", "\\N", "carriage\rreturn", "accentué « guillemets »", ""]


def test_escaped_text_and_json_round_trip():
    now = utcnow()
    rows = [
        {
            "at": now,
            "user_id": None,
            "origin": value,
            "entity_type": "bulk_test",
            "entity_id": i,
            "action": "create",
            "changes": {"value": [value, {"nested": value, "n": i, "none": None, "yes": True}]},
            "parent_type": None,
            "parent_id": None,
        }
        for i, value in enumerate(AWKWARD)
    ]
    bulk_insert(db.session.connection(), AuditEntry.__table__, rows)
    db.session.commit()
    db.session.expire_all()
    stored = db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity_type == "bulk_test").order_by(AuditEntry.entity_id)
    ).all()
    assert [entry.origin for entry in stored] == AWKWARD
    assert [entry.changes["value"][1]["nested"] for entry in stored] == AWKWARD
    assert stored[0].changes["value"][1] == {"nested": AWKWARD[0], "n": 0, "none": None, "yes": True}
    assert stored[0].parent_id is None and stored[0].user_id is None


def test_a_stage_is_created_again_after_a_rollback():
    for _ in range(2):
        stage = Stage(db.session.connection(), "bulk_test_stage", (("n", "INTEGER"), ("day", "DATE")))
        stage.load([(1, date(2026, 1, 1)), (2, date(2026, 2, 1)), (3, None)])
        rows = db.session.execute(text("SELECT n, day FROM bulk_test_stage ORDER BY n")).all()
        assert [(n, str(day) if day else None) for n, day in rows] == [(1, "2026-01-01"), (2, "2026-02-01"), (3, None)]
        db.session.rollback()
