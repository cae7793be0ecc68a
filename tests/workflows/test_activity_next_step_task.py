"""activity_next_step_task: an activity with a next step becomes a task for its author, once."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from crm.activities.services import log_activity
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.tasks.models import Task
from tests.workflows.conftest import outbox, process, process_again, runs, set_rule, state

RULE = "activity_next_step_task"


@pytest.fixture
def animator(make_user):
    return make_user("animateur", ["31"])


def visit(animator, structures, next_step="Envoyer la convention ViaTrajectoire", due=None):
    return log_activity(
        {
            "kind": "visite",
            "occurred_on": local_today().isoformat(),
            "structure_ids": [s.id for s in structures],
            "next_step": next_step,
            "next_step_due_on": (due or local_today() + timedelta(days=7)).isoformat() if next_step else None,
        },
        user=animator,
    )


def tasks() -> list[Task]:
    db.session.expire_all()
    return list(db.session.scalars(select(Task).order_by(Task.id)))


def test_the_next_step_becomes_a_task_about_the_structure_chosen_first(animator, make_structure):
    zebra, alpha = make_structure(name="Zèbre EHPAD"), make_structure(name="Alpha EHPAD")
    due = local_today() + timedelta(days=9)
    activity = visit(animator, [zebra, alpha], due=due)
    assert tasks() == []  # a moment later
    process()
    [task] = tasks()
    assert (task.title, task.owner_id, task.created_by_id) == (
        "Envoyer la convention ViaTrajectoire",
        animator.id,
        animator.id,
    )
    assert task.source == "activite" and task.activity_id == activity.id and task.due_on == due
    assert task.structure_id == zebra.id  # chosen first, though second by name
    assert outbox("task.created")[0].actor_id == animator.id
    assert runs(RULE)[0].detail == f"Activité {activity.id} : relance {task.id} pour son auteur."
    assert state(RULE).runs == 1


def test_no_next_step_no_task(animator, make_structure):
    visit(animator, [make_structure()], next_step=None)
    process()
    assert tasks() == [] and runs(RULE) == []


def test_processing_again_makes_no_second_task(animator, make_structure):
    visit(animator, [make_structure()])
    process()
    process_again("activity.logged")
    assert len(tasks()) == 1
    from workflows.models import RuleRun

    db.session.execute(RuleRun.__table__.delete())
    db.session.commit()
    process_again("activity.logged")
    assert len(tasks()) == 1


def test_disabled_rule_creates_no_task(animator, make_structure):
    set_rule(RULE, enabled=False)
    visit(animator, [make_structure()])
    process()
    assert tasks() == [] and runs(RULE) == []


def test_a_failing_task_fails_its_event_only(animator, make_structure, break_rule):
    first = visit(animator, [make_structure(name="Première")], next_step="Rappeler")
    visit(animator, [make_structure(name="Seconde")], next_step="Écrire")
    break_rule(RULE, fails=lambda event: event.aggregate_id == first.id)
    result = process()
    assert result.failed == 1
    assert [t.title for t in tasks()] == ["Écrire"]
    [failed] = [e for e in outbox("activity.logged") if e.processed_at is None]
    assert failed.aggregate_id == first.id and failed.next_attempt_at is not None
    assert state(RULE).failures == 1
