"""My follow-ups: buckets, done in one step, events."""

from datetime import date, timedelta

from sqlalchemy import select

from crm.platform.extensions import db
from crm.platform.models import OutboxEvent
from crm.tasks import services


def test_buckets_overdue_first(make_user, make_structure):
    user = make_user("animateur", ["31"])
    structure = make_structure()
    today = date(2026, 11, 23)  # a Monday
    for title, delta in (("Plus tard", 30), ("Cette semaine", 3), ("En retard", -2), ("Aujourd'hui", 0)):
        services.create_task(
            {"title": title, "due_on": (today + timedelta(days=delta)).isoformat(), "structure_id": structure.id},
            user=user,
        )
    services.create_task({"title": "Sans date"}, user=user)
    buckets = services.open_tasks_for(user.id, today=today)
    assert [t.title for t in buckets.overdue] == ["En retard"]
    assert [t.title for t in buckets.today] == ["Aujourd'hui"]
    assert [t.title for t in buckets.this_week] == ["Cette semaine"]
    assert [t.title for t in buckets.later] == ["Plus tard", "Sans date"]


def test_done_is_idempotent_and_evented(make_user):
    user = make_user("organisateur")
    task = services.create_task({"title": "Relancer le CH"}, user=user)
    services.set_done(task, True, user=user)
    services.set_done(task, True, user=user)
    assert task.done_at is not None and task.done_by_id == user.id
    done_events = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "task.done")).all()
    assert len(done_events) == 1
    assert services.open_tasks_for(user.id).total == 0


def test_task_validation(make_user):
    import pytest

    from crm.platform.validation import ValidationFailed

    user = make_user("animateur", ["31"])
    manager = make_user("manager")
    with pytest.raises(ValidationFailed) as error:
        services.create_task(
            {"title": "", "due_on": "demain", "owner_id": manager.id, "structure_id": 999999}, user=user
        )
    assert set(error.value.errors) == {"title", "due_on", "owner_id", "structure_id"}
