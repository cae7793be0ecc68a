"""event_followup_tasks: after an event, a task for the department's animator for each structure that came
with no open opportunity on the event's programmes; once per event and structure."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.events.models import as_utc
from crm.pipeline import services as pipeline
from crm.pipeline.models import LossReason
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.referential.models import Offer
from crm.tasks.models import Task
from tests.events.factories import add_registration
from tests.events.factories import make_event as event_row
from tests.workflows.conftest import runs, set_rule, state, sweep

RULE = "event_followup_tasks"


@pytest.fixture
def offer():
    return db.session.scalars(select(Offer).where(Offer.code == "VT_GRAND_AGE")).one()


@pytest.fixture
def other_offer(offer):
    return db.session.scalars(select(Offer).where(Offer.programme_id != offer.programme_id).order_by(Offer.id)).first()


@pytest.fixture
def event(offer):
    """A webinar on the offer's programme that ended two days ago."""
    found = event_row(title="Webinaire ViaTrajectoire", days_ago=2)
    found.programmes = [offer.programme]
    db.session.commit()
    return found


def tasks() -> list[Task]:
    db.session.expire_all()
    return list(db.session.scalars(select(Task).order_by(Task.id)))


def test_a_task_for_the_department_animator_of_each_structure_that_came(event, offer, make_user, make_structure):
    older = make_user("animateur", ["31"])
    newer = make_user("animateur", ["31", "32"])  # two animators in each department: the first created
    make_user("animateur", ["32"])
    ehpad = make_structure(name="EHPAD Les Tilleuls")
    clinic = make_structure(name="Clinique du Gers", department_code="32", commune="Auch")
    for n, structure in enumerate((ehpad, ehpad, clinic)):  # two people from the same EHPAD: one task
        add_registration(event, f"p{n}@example.fr", status="present", structure=structure)
    add_registration(event, "absent@example.fr", status="absent", structure=make_structure(name="Absente"))
    sweep()
    sweep()
    found = tasks()
    assert [(t.structure_id, t.owner_id) for t in found] == [(ehpad.id, older.id), (clinic.id, newer.id)]
    task = found[0]
    assert task.source == "workflow" and task.event_id == event.id and task.created_by_id is None
    assert task.title == "Relancer EHPAD Les Tilleuls après « Webinaire ViaTrajectoire »"
    assert task.due_on == local_today() + timedelta(days=7)
    assert f"n'a pas d'opportunité ouverte sur {offer.programme.label}" in task.description
    assert [run.run_key for run in runs(RULE)] == [f"{RULE}:event:{event.id}:structure:{s.id}" for s in (ehpad, clinic)]
    assert state(RULE).runs == 2


def test_no_task_when_an_opportunity_is_open_on_the_programmes(event, make_user, make_structure, offer, other_offer):
    animator = make_user("animateur", ["31"])
    engaged = make_structure(name="EHPAD déjà suivi")
    elsewhere = make_structure(name="EHPAD suivi sur un autre programme")
    closed = make_structure(name="EHPAD perdu")
    pipeline.create_opportunity({"structure_id": engaged.id, "offer_id": offer.id, "title": "VT"}, user=animator)
    pipeline.create_opportunity(
        {"structure_id": elsewhere.id, "offer_id": other_offer.id, "title": "Autre"}, user=animator
    )
    lost = pipeline.create_opportunity({"structure_id": closed.id, "offer_id": offer.id, "title": "VT"}, user=animator)
    pipeline.change_stage(
        lost,
        "abandonnee",
        user=animator,
        reason_id=db.session.scalars(select(LossReason.id).order_by(LossReason.id)).first(),
    )
    for n, structure in enumerate((engaged, elsewhere, closed)):
        add_registration(event, f"p{n}@example.fr", status="present", structure=structure)
    sweep()
    assert sorted(t.structure_id for t in tasks()) == sorted([elsewhere.id, closed.id])


def test_no_animator_in_the_department_no_task_and_the_run_says_so(event, make_structure):
    structure = make_structure(name="CH de Lourdes", department_code="65", commune="Lourdes")
    add_registration(event, "p@example.fr", status="present", structure=structure)
    sweep()
    assert tasks() == []
    [run] = runs(RULE)
    assert run.outcome == "ok" and "aucun animateur pour le département 65" in run.detail


def test_not_for_a_cancelled_event_nor_people_without_a_known_structure(make_user, make_structure):
    make_user("animateur", ["31"])
    cancelled = event_row(status="annule", days_ago=2)
    add_registration(cancelled, "p@example.fr", status="present", structure=make_structure())
    held = event_row(days_ago=2)
    add_registration(held, "q@example.fr", status="present", structure_name="Cabinet libre", department_code="31")
    sweep()
    assert tasks() == [] and runs(RULE) == []


def test_delay_and_window_are_respected(make_user, make_structure):
    make_user("animateur", ["31"])
    event = event_row(days_ago=0)  # ends in two hours
    add_registration(event, "p@example.fr", status="present", structure=make_structure())
    ends = as_utc(event.ends_at)
    sweep(ends + timedelta(hours=23))  # the default: one day after the end
    assert tasks() == []
    sweep(ends + timedelta(days=1, hours=1))
    assert len(tasks()) == 1
    late = event_row(days_ago=20)
    add_registration(late, "q@example.fr", status="present", structure=make_structure(name="Trop tard"))
    sweep()
    assert len(tasks()) == 1  # more than 1 + 14 days ago
    set_rule(RULE, within_days=30)
    sweep()
    assert len(tasks()) == 2


def test_disabled_rule_creates_nothing(event, make_user, make_structure):
    make_user("animateur", ["31"])
    add_registration(event, "p@example.fr", status="present", structure=make_structure())
    set_rule(RULE, enabled=False)
    sweep()
    assert tasks() == [] and runs(RULE) == []


def test_a_failing_structure_does_not_stop_the_others(event, make_user, make_structure, break_rule):
    make_user("animateur", ["31"])
    broken, fine = make_structure(name="Cassée"), make_structure(name="Saine")
    add_registration(event, "p@example.fr", status="present", structure=broken)
    add_registration(event, "q@example.fr", status="present", structure=fine)
    repair = break_rule(RULE, fails=lambda item: item[1] == broken.id)
    sweep()
    assert [t.structure_id for t in tasks()] == [fine.id]
    assert state(RULE).failures == 1 and len(runs(RULE, "echec")) == 1
    repair()
    sweep()
    assert sorted(t.structure_id for t in tasks()) == sorted([broken.id, fine.id])
