"""Defects found by review of the animators' features, each pinned by a test."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update

from crm.pipeline import services as pipeline
from crm.pipeline.models import Opportunity, Project
from crm.platform.concurrency import StaleEdit
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent
from crm.platform.validation import ValidationFailed
from crm.referential.models import Offer
from crm.tasks import services as tasks
from crm.tasks.models import Task


@pytest.fixture
def offer():
    return db.session.scalars(select(Offer).where(Offer.code == "VT_GRAND_AGE")).one()


def _events(kind: str) -> int:
    return db.session.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == kind))


def test_a_task_cannot_link_another_departments_structure_or_a_foreign_opportunity(make_user, make_structure, offer):
    animator = make_user("animateur", ["31"])
    ours, theirs = make_structure(name="EHPAD 31"), make_structure(name="EHPAD 81", department_code="81")
    other = make_structure(name="MSP 31")
    opportunity = pipeline.create_opportunity(
        {"structure_id": other.id, "offer_id": offer.id, "title": "VT"}, user=animator
    )
    with pytest.raises(ValidationFailed) as refused:
        tasks.create_task({"title": "x", "structure_id": theirs.id}, user=animator)
    assert "structure_id" in refused.value.errors
    with pytest.raises(ValidationFailed) as refused:
        tasks.create_task({"title": "x", "structure_id": ours.id, "opportunity_id": opportunity.id}, user=animator)
    assert "opportunity_id" in refused.value.errors
    task = tasks.create_task({"title": "Relancer", "opportunity_id": opportunity.id}, user=animator)
    assert task.structure_id == other.id  # the opportunity gives its structure


def test_an_opportunity_comes_only_from_an_activity_of_its_structure(make_user, make_structure, offer):
    from crm.activities.services import log_activity

    animator = make_user("animateur", ["31"])
    one, two = make_structure(name="EHPAD A"), make_structure(name="EHPAD B")
    activity = log_activity({"kind": "webinaire", "structure_ids": [one.id]}, user=animator)
    with pytest.raises(ValidationFailed) as refused:
        pipeline.create_opportunity(
            {"structure_id": two.id, "offer_id": offer.id, "title": "VT", "source_activity_id": activity.id},
            user=animator,
        )
    assert "source_activity_id" in refused.value.errors


def test_winning_a_stale_opportunity_is_a_conflict_not_a_crash(make_user, make_structure, offer):
    animator = make_user("animateur", ["31"])
    opportunity = pipeline.create_opportunity(
        {"structure_id": make_structure().id, "offer_id": offer.id, "title": "VT"}, user=animator
    )
    with db.engine.begin() as other:  # someone else moves it meanwhile
        other.execute(
            update(Opportunity).where(Opportunity.id == opportunity.id).values(version=Opportunity.version + 1)
        )
    with pytest.raises(StaleEdit):
        pipeline.change_stage(opportunity, "gagnee", user=animator)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Project)) == 0


def test_next_step_goes_to_the_first_structure_chosen_and_cannot_be_due_before(make_user, make_structure):
    from crm.activities.services import log_activity

    animator = make_user("animateur", ["31"])
    zed, abc = make_structure(name="ZZ CPTS du Comminges"), make_structure(name="AA EHPAD")
    activity = log_activity(
        {
            "kind": "reunion",
            "structure_ids": [zed.id, abc.id],
            "next_step": "Envoyer la doc",
            "next_step_due_on": (local_today() + timedelta(days=7)).isoformat(),
        },
        user=animator,
    )
    from workflows.dispatch import process_pending

    process_pending()  # the task is the activity_next_step_task rule's
    task = db.session.scalars(select(Task).where(Task.activity_id == activity.id)).one()
    assert task.structure_id == zed.id
    with pytest.raises(ValidationFailed) as refused:
        log_activity(
            {"kind": "visite", "structure_ids": [abc.id], "next_step": "x", "next_step_due_on": "2020-01-01"},
            user=animator,
        )
    assert "next_step_due_on" in refused.value.errors


def test_too_many_ids_are_refused():
    from crm.platform.validation import parse_ids

    errors: dict = {}
    assert parse_ids(list(range(1, 102)), errors, "structure_ids") == [] and "structure_ids" in errors


def test_a_project_taken_up_again_has_no_end_date(make_user, make_structure, offer):
    animator = make_user("animateur", ["31"])
    project = pipeline.create_project(
        {"structure_id": make_structure().id, "offer_id": offer.id, "title": "P"}, user=animator
    )
    pipeline.update_project(project, {"status": "termine"}, user=animator)
    assert project.ended_on is not None
    pipeline.update_project(project, {"status": "en_cours"}, user=animator)
    assert project.ended_on is None


def test_two_clicks_on_done_write_one_event(app, make_user):
    animator = make_user("animateur", ["31"])
    task = tasks.create_task({"title": "Rappeler"}, user=animator)
    task_id, user_id = task.id, animator.id
    barrier = threading.Barrier(2)

    def click():
        from crm.accounts.models import User

        with app.app_context():
            mine = db.session.get(Task, task_id)
            assert not mine.is_done
            barrier.wait()
            tasks.set_done(mine, True, user=db.session.get(User, user_id))
            db.session.remove()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.session.expire_all()
    assert db.session.get(Task, task_id).is_done
    assert _events("task.done") == 1
