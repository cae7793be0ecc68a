"""Logging activities: multi-structure, contacts, programmes, next step -> task, rules."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from crm.activities import services
from crm.activities.models import Activity
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent
from crm.platform.validation import ValidationFailed
from crm.referential.models import Offer
from crm.structures.contacts import save_contact
from crm.tasks.models import Task
from workflows.dispatch import process_pending


@pytest.fixture
def animator(make_user):
    return make_user("animateur", ["31", "81"])


def test_multi_structure_activity_counts_once_per_structure(make_structure, animator):
    cpts = make_structure(name="CPTS du Lauragais")
    ehpads = [make_structure(name=f"EHPAD {i}", department_code="81" if i == 2 else "31") for i in range(3)]
    offer = db.session.scalars(select(Offer).where(Offer.code == "SPICO_DOSSIERS")).one()
    activity = services.log_activity(
        {
            "kind": "reunion",
            "structure_ids": [cpts.id] + [e.id for e in ehpads],
            "offer_ids": [offer.id],
            "is_information": True,
        },
        user=animator,
    )
    assert len(activity.structures) == 4 and activity.occurred_on == local_today()
    event = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "activity.logged")).one()
    assert sorted(s["structure_id"] for s in event.payload["structures"]) == sorted([cpts.id] + [e.id for e in ehpads])
    assert {s["department"] for s in event.payload["structures"]} == {"31", "81"}
    assert event.payload["programme_ids"] == [offer.programme_id] and event.payload["is_information"] is True
    for structure in [cpts] + ehpads:
        assert [a.id for a in services.structure_timeline(structure.id)] == [activity.id]
    assert services.list_activities(department="81").total == 1


def test_next_step_becomes_a_task_through_the_workflow_rule(make_structure, animator):
    structure = make_structure()
    due = local_today() + timedelta(days=7)
    activity = services.log_activity(
        {
            "kind": "visite",
            "structure_ids": [structure.id],
            "next_step": "Envoyer la convention",
            "next_step_due_on": due.isoformat(),
        },
        user=animator,
    )
    types = db.session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.id)).all()
    assert types[-1] == "activity.logged" and db.session.scalars(select(Task)).all() == []
    process_pending()  # the activity_next_step_task rule, as a worker runs it after the commit
    task = db.session.scalars(select(Task)).one()
    assert (task.title, task.due_on, task.owner_id, task.structure_id, task.activity_id, task.source) == (
        "Envoyer la convention",
        due,
        animator.id,
        structure.id,
        activity.id,
        "activite",
    )
    types = db.session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.id)).all()
    assert types[-2:] == ["activity.logged", "task.created"]


def test_validation_reports_every_field(make_structure, make_user, animator):
    other = make_structure(name="Hors zone", department_code="34")
    stranger = make_structure(name="Autre", department_code="31")
    contact = save_contact(stranger, None, {"last_name": "Roux"})
    with pytest.raises(ValidationFailed) as error:
        services.log_activity(
            {
                "kind": "pique-nique",
                "structure_ids": [other.id],
                "duration_minutes": "-5",
                "occurred_on": (local_today() + timedelta(days=5)).isoformat(),
                "next_step": "Rappeler",
                "contact_ids": [contact.id],
                "offer_ids": ["x"],
            },
            user=animator,
        )
    errors = error.value.errors
    assert set(errors) >= {
        "kind",
        "structure_ids",
        "duration_minutes",
        "occurred_on",
        "next_step_due_on",
        "contact_ids",
        "offer_ids",
    }
    assert "vos départements" in errors["structure_ids"]
    assert db.session.scalar(select(db.func.count()).select_from(Activity)) == 0
    assert db.session.scalars(select(OutboxEvent).where(OutboxEvent.type.like("activity.%"))).all() == []


def test_no_structure_and_bad_date(animator):
    with pytest.raises(ValidationFailed) as error:
        services.log_activity({"kind": "appel", "occurred_on": "31/12/2024"}, user=animator)
    assert "structure" in error.value.errors["structure_ids"] and "AAAA-MM-JJ" in error.value.errors["occurred_on"]


@pytest.mark.parametrize("role", ["manager", "organisateur"])
def test_readers_cannot_log(make_structure, make_user, role):
    structure = make_structure()
    with pytest.raises(ValidationFailed):
        services.log_activity({"kind": "visite", "structure_ids": [structure.id]}, user=make_user(role))


def test_logging_writes_the_activity_its_links_and_its_audit_entry(make_structure, animator):
    """The activity is written with Core inserts: what is read back is what the ORM used to write."""
    from crm.platform.models import AuditEntry

    first, second = make_structure(name="Zéphyr"), make_structure(name="Alpha")
    offer = db.session.scalars(select(Offer).where(Offer.code == "SPICO_DOSSIERS")).one()
    activity = services.log_activity(
        {
            "kind": "visite",
            "structure_ids": [first.id, second.id],
            "offer_ids": [offer.id],
            "duration_minutes": 45,
            "subject": "Point",
        },
        user=animator,
    )
    assert [s.name for s in activity.structures] == ["Alpha", "Zéphyr"] and activity.author_id == animator.id
    db.session.expunge_all()
    stored = db.session.get(Activity, activity.id)
    assert (stored.kind, stored.duration_minutes, stored.subject, stored.is_information, stored.author_id) == (
        "visite",
        45,
        "Point",
        False,
        animator.id,
    )
    assert stored.created_at is not None and stored.updated_at is not None
    assert [s.name for s in stored.structures] == ["Alpha", "Zéphyr"] and [o.id for o in stored.offers] == [offer.id]
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "activity")).one()
    assert (entry.entity_id, entry.action, entry.user_id) == (activity.id, "create", animator.id)
    assert entry.changes == {
        "kind": [None, "visite"],
        "occurred_on": [None, local_today().isoformat()],
        "structures": [None, [second.id, first.id]],
    }
    event = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "activity.logged")).one()
    assert set(event.payload) == {
        "activity_id",
        "kind",
        "occurred_on",
        "is_information",
        "author_id",
        "structures",
        "programme_ids",
        "offer_ids",
    }
    assert event.payload["offer_ids"] == [offer.id] and event.actor_id == animator.id
