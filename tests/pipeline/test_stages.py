"""Opportunity stage rules: allowed, refused, reason required; won -> project; history and events."""

import pytest
from sqlalchemy import select

from crm.pipeline import services
from crm.pipeline.models import LossReason, Opportunity, Project, StageChange
from crm.pipeline.stages import transition_error
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent
from crm.platform.validation import ValidationFailed
from crm.referential.models import Offer
from workflows.dispatch import process_pending


@pytest.fixture
def offer():
    return db.session.scalars(select(Offer).where(Offer.code == "VT_GRAND_AGE")).one()


@pytest.fixture
def reason():
    return db.session.scalars(select(LossReason)).first()


@pytest.fixture
def animator(make_user):
    return make_user("animateur", ["31"])


@pytest.fixture
def opportunity(make_structure, animator, offer):
    structure = make_structure(name="EHPAD Les Tilleuls")
    return services.create_opportunity(
        {"structure_id": structure.id, "offer_id": offer.id, "title": "ViaTrajectoire grand âge"}, user=animator
    )


ALLOWED = [
    ("identifiee", "qualifiee"),
    ("identifiee", "proposee"),
    ("qualifiee", "proposee"),
    ("proposee", "qualifiee"),
    ("qualifiee", "identifiee"),
    ("identifiee", "gagnee"),
    ("proposee", "gagnee"),
]
REFUSED = [
    ("gagnee", "proposee"),
    ("perdue", "identifiee"),
    ("abandonnee", "qualifiee"),
    ("gagnee", "perdue"),
    ("qualifiee", "qualifiee"),
    ("identifiee", "inconnue"),
]


@pytest.mark.parametrize("from_stage,to_stage", ALLOWED)
def test_allowed_moves(from_stage, to_stage):
    assert transition_error(from_stage, to_stage, None) is None


@pytest.mark.parametrize("from_stage,to_stage", REFUSED)
def test_refused_moves(from_stage, to_stage):
    assert transition_error(from_stage, to_stage, 1) is not None


@pytest.mark.parametrize("to_stage", ["perdue", "abandonnee"])
def test_lost_and_abandoned_need_a_reason(to_stage):
    assert "raison" in transition_error("qualifiee", to_stage, None)
    assert transition_error("qualifiee", to_stage, 3) is None


def test_creation_records_first_stage_owner_and_programme(opportunity, animator, offer):
    assert opportunity.stage == "identifiee" and opportunity.owner_id == animator.id
    assert opportunity.programme_id == offer.programme_id
    change = db.session.scalars(select(StageChange)).one()
    assert (change.from_stage, change.to_stage, change.changed_by_id) == (None, "identifiee", animator.id)
    event = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "opportunity.created")).one()
    assert event.payload["department"] == "31" and event.payload["programme_id"] == offer.programme_id


def test_default_owner_is_the_departments_animator(make_user, make_structure, offer):
    animator = make_user("animateur", ["81"])
    admin = make_user("admin")
    structure = make_structure(name="CH d'Albi", department_code="81")
    opportunity = services.create_opportunity(
        {"structure_id": structure.id, "offer_id": offer.id, "title": "Téléo"}, user=admin
    )
    assert opportunity.owner_id == animator.id


def test_every_move_is_recorded_with_date_and_author(opportunity, animator):
    services.change_stage(opportunity, "qualifiee", user=animator)
    services.change_stage(opportunity, "proposee", user=animator)
    stages = db.session.scalars(select(StageChange.to_stage).order_by(StageChange.id)).all()
    assert stages == ["identifiee", "qualifiee", "proposee"]
    events = db.session.scalars(
        select(OutboxEvent).where(OutboxEvent.type == "opportunity.stage_changed").order_by(OutboxEvent.id)
    ).all()
    assert [(e.payload["from_stage"], e.payload["to_stage"]) for e in events] == [
        ("identifiee", "qualifiee"),
        ("qualifiee", "proposee"),
    ]


def test_won_becomes_the_project_through_the_workflow_rule(opportunity, animator):
    services.change_stage(opportunity, "gagnee", user=animator)
    assert opportunity.closed_on is not None
    types = db.session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.id)).all()
    assert types[-1] == "opportunity.stage_changed" and db.session.scalars(select(Project)).all() == []
    process_pending()  # the won_opportunity_project rule, as a worker runs it after the commit
    project = db.session.scalars(select(Project)).one()
    assert project.opportunity_id == opportunity.id and project.status == "en_cours"
    assert project.structure_id == opportunity.structure_id and project.programme_id == opportunity.programme_id
    assert project.started_on == opportunity.closed_on
    types = db.session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.id)).all()
    pipeline_types = [t for t in types if t.startswith(("opportunity.", "project."))]
    assert pipeline_types[-2:] == ["opportunity.stage_changed", "project.created"]
    # The structure's service moved to "en projet" once (the won opportunity and the project both say so).
    assert types.count("deployment.status_changed") == 1
    with pytest.raises(ValidationFailed) as error:
        services.change_stage(opportunity, "perdue", user=animator, reason_id=1)
    assert "close" in error.value.errors["stage"]
    assert db.session.scalar(select(db.func.count()).select_from(Project)) == 1


def test_lost_without_reason_is_refused_and_changes_nothing(opportunity, animator, reason):
    with pytest.raises(ValidationFailed) as error:
        services.change_stage(opportunity, "perdue", user=animator)
    assert "raison" in error.value.errors["stage"]
    db.session.rollback()
    assert db.session.get(Opportunity, opportunity.id).stage == "identifiee"
    assert db.session.scalar(select(db.func.count()).select_from(StageChange)) == 1
    services.change_stage(opportunity, "perdue", user=animator, reason_id=reason.id, comment="Budget 2027")
    assert opportunity.loss_reason_id == reason.id and opportunity.closed_on is not None


def test_unknown_or_inactive_reason_is_refused(opportunity, animator, reason):
    reason.active = False
    db.session.commit()
    with pytest.raises(ValidationFailed):
        services.change_stage(opportunity, "abandonnee", user=animator, reason_id=reason.id)
    with pytest.raises(ValidationFailed):
        services.change_stage(opportunity, "abandonnee", user=animator, reason_id="abc")


def test_animator_cannot_open_an_opportunity_outside_their_departments(make_structure, animator, offer):
    structure = make_structure(name="CH de Béziers", department_code="34")
    with pytest.raises(ValidationFailed) as error:
        services.create_opportunity({"structure_id": structure.id, "offer_id": offer.id, "title": "X"}, user=animator)
    assert "départements" in error.value.errors["structure_id"]
    assert db.session.scalar(select(db.func.count()).select_from(Opportunity)) == 0


def test_direct_project_counts_as_engagement(make_structure, animator, offer):
    structure = make_structure()
    project = services.create_project(
        {"structure_id": structure.id, "offer_id": offer.id, "title": "Déploiement VT"}, user=animator
    )
    assert project.opportunity_id is None
    engaged = services.engagements(structure.id)
    assert [e["programme"].id for e in engaged] == [offer.programme_id]
    services.update_project(project, {"status": "suspendu"}, user=animator)
    assert services.engagements(structure.id) == []
    services.update_project(project, {"status": "termine"}, user=animator)
    assert project.ended_on is not None and len(services.engagements(structure.id)) == 1
    event = db.session.scalars(
        select(OutboxEvent).where(OutboxEvent.type == "project.status_changed").order_by(OutboxEvent.id.desc())
    ).first()
    assert event.payload["from_status"] == "suspendu" and event.payload["status"] == "termine"
