"""idle_opportunity_task: an open opportunity idle for N days gets a task for its owner, once per idle spell."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from crm.pipeline import services as pipeline
from crm.pipeline.models import Opportunity
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.models import utcnow
from crm.referential.models import Offer
from crm.tasks import services as tasks_service
from crm.tasks.models import Task
from tests.workflows.conftest import runs, set_rule, state, sweep

RULE = "idle_opportunity_task"


@pytest.fixture
def animator(make_user):
    return make_user("animateur", ["31"])


@pytest.fixture
def make_opportunity(animator, make_structure):
    offer = db.session.scalars(select(Offer).where(Offer.code == "VT_GRAND_AGE")).one()

    def factory(idle_days: int, title="ViaTrajectoire grand âge", **values):
        opportunity = pipeline.create_opportunity(
            {"structure_id": make_structure(name=f"EHPAD {title}").id, "offer_id": offer.id, "title": title, **values},
            user=animator,
        )
        idle(opportunity, idle_days)
        return opportunity

    return factory


def idle(opportunity, days: int) -> None:
    db.session.execute(
        update(Opportunity)
        .where(Opportunity.id == opportunity.id)
        .values(stage_changed_at=utcnow() - timedelta(days=days))
    )
    db.session.commit()


def tasks() -> list[Task]:
    db.session.expire_all()
    return list(db.session.scalars(select(Task).where(Task.source == "workflow").order_by(Task.id)))


def test_a_task_for_the_owner_once_per_idle_spell(make_opportunity, animator):
    opportunity = make_opportunity(idle_days=31)
    sweep()
    sweep()
    [task] = tasks()
    assert task.owner_id == animator.id and task.opportunity_id == opportunity.id
    assert task.structure_id == opportunity.structure_id and task.due_on == local_today()
    assert task.title == "Relancer l'opportunité « ViaTrajectoire grand âge »"
    assert "Aucun changement d'étape depuis le" in task.description
    assert state(RULE).runs == 1

    # Done, and still idle: the same spell, no second task.
    tasks_service.set_done(task, True, user=animator)
    sweep()
    assert len(tasks()) == 1
    # Weeks later it moves on, then stalls again: a new spell, a new task.
    db.session.execute(update(Task).values(created_at=utcnow() - timedelta(days=50)))
    db.session.commit()
    pipeline.change_stage(db.session.get(Opportunity, opportunity.id), "qualifiee", user=animator)
    idle(opportunity, 40)
    sweep()
    assert len(tasks()) == 2 and len(runs(RULE)) == 2


def test_not_before_the_delay_which_is_configurable(make_opportunity):
    make_opportunity(idle_days=29)
    sweep()
    assert tasks() == []
    set_rule(RULE, days=20)
    sweep()
    assert len(tasks()) == 1


def test_not_for_a_closed_opportunity_nor_one_with_an_open_task(make_opportunity, animator):
    won = make_opportunity(idle_days=1, title="Gagnée")
    for stage in ("qualifiee", "proposee", "gagnee"):
        pipeline.change_stage(won, stage, user=animator)
    idle(won, 60)
    planned = make_opportunity(idle_days=45, title="Déjà relancée")
    tasks_service.create_task({"title": "Rappeler la directrice", "opportunity_id": planned.id}, user=animator)
    sweep()
    assert tasks() == [] and runs(RULE) == []


def test_disabled_rule_creates_nothing(make_opportunity):
    set_rule(RULE, enabled=False)
    make_opportunity(idle_days=31)
    sweep()
    assert tasks() == [] and runs(RULE) == []


def test_a_failing_opportunity_does_not_stop_the_others(make_opportunity, break_rule):
    broken = make_opportunity(idle_days=31, title="Cassée")
    fine = make_opportunity(idle_days=31, title="Saine")
    repair = break_rule(RULE, fails=lambda opportunity_id: opportunity_id == broken.id)
    sweep()
    assert [t.opportunity_id for t in tasks()] == [fine.id]
    assert state(RULE).failures == 1 and "panne simulée" in state(RULE).last_error
    repair()
    sweep()
    assert sorted(t.opportunity_id for t in tasks()) == sorted([broken.id, fine.id])
