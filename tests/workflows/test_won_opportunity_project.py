"""won_opportunity_project: a won opportunity becomes its project, once, a moment after the stage change."""

import pytest
from sqlalchemy import select, update

from crm.pipeline import services as pipeline
from crm.pipeline.models import LossReason, Opportunity, Project
from crm.platform.extensions import db
from crm.referential.models import Offer
from tests.workflows.conftest import count, outbox, process, process_again, runs, set_rule, state

RULE = "won_opportunity_project"


@pytest.fixture
def opportunity(make_user, make_structure):
    animator = make_user("animateur", ["31"])
    offer = db.session.scalars(select(Offer).where(Offer.code == "VT_GRAND_AGE")).one()
    found = pipeline.create_opportunity(
        {"structure_id": make_structure().id, "offer_id": offer.id, "title": "ViaTrajectoire grand âge"}, user=animator
    )
    found.animator = animator
    return found


def win(opportunity):
    for stage in ("qualifiee", "proposee", "gagnee"):
        pipeline.change_stage(opportunity, stage, user=opportunity.animator)


def test_the_won_opportunity_becomes_its_project_after_the_stage_change(opportunity):
    win(opportunity)
    assert count(Project) == 0  # the stage change only
    process()
    project = db.session.scalars(select(Project)).one()
    assert project.opportunity_id == opportunity.id and project.structure_id == opportunity.structure_id
    assert project.offer_id == opportunity.offer_id and project.programme_id == opportunity.programme_id
    assert project.owner_id == opportunity.owner_id and project.status == "en_cours"
    assert project.started_on == db.session.get(Opportunity, opportunity.id).closed_on
    assert project.title == "ViaTrajectoire grand âge"
    [created] = outbox("project.created")
    assert created.actor_id == opportunity.animator.id  # on behalf of who won it
    [run] = runs(RULE)
    assert run.detail == f"Opportunité {opportunity.id} : projet {project.id} créé."
    assert state(RULE).runs == 1


def test_other_stage_changes_start_nothing(opportunity):
    pipeline.change_stage(opportunity, "qualifiee", user=opportunity.animator)
    reason_id = db.session.scalars(select(LossReason.id).order_by(LossReason.id)).first()
    pipeline.change_stage(opportunity, "perdue", user=opportunity.animator, reason_id=reason_id)
    process()
    assert count(Project) == 0 and runs(RULE) == []


def test_processing_again_makes_no_second_project(opportunity):
    win(opportunity)
    process()
    process_again("opportunity.stage_changed")
    assert count(Project) == 1
    # Without the run log, the project found for the opportunity stops a second one.
    db.session.execute(update(Project).values(title="Renommé"))
    from workflows.models import RuleRun

    db.session.execute(RuleRun.__table__.delete())
    db.session.commit()
    process_again("opportunity.stage_changed")
    assert count(Project) == 1 and db.session.scalars(select(Project.title)).one() == "Renommé"
    assert runs(RULE)[-1].detail.endswith("projet déjà créé (ou opportunité plus gagnée).")


def test_disabled_rule_starts_no_project(opportunity):
    set_rule(RULE, enabled=False)
    win(opportunity)
    process()
    assert count(Project) == 0 and runs(RULE) == []
    assert all(event.processed_at for event in outbox("opportunity.stage_changed"))


def test_a_failing_project_fails_its_event_only(opportunity, make_structure, break_rule):
    offer = db.session.scalars(select(Offer).where(Offer.code == "VT_GRAND_AGE")).one()
    other = pipeline.create_opportunity(
        {"structure_id": make_structure(name="Autre EHPAD").id, "offer_id": offer.id, "title": "Autre"},
        user=opportunity.animator,
    )
    other.animator = opportunity.animator
    win(opportunity)
    win(other)
    break_rule(RULE, fails=lambda event: event.aggregate_id == opportunity.id)
    result = process()
    assert result.failed == 1
    assert db.session.scalars(select(Project.opportunity_id)).all() == [other.id]
    failed = [e for e in outbox("opportunity.stage_changed") if e.processed_at is None]
    assert [e.aggregate_id for e in failed] == [opportunity.id]
    assert failed[0].next_attempt_at is not None and failed[0].attempts == 1
    assert state(RULE).failures == 1
