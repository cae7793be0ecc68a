"""Deployment status: by hand on the structure's page, by the workflow rules (project, won opportunity),
each change with its audit entry and its event."""

import pytest
from sqlalchemy import select

from crm.deployment import services
from crm.deployment.models import StructureDeployment
from crm.pipeline import services as pipeline
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent
from crm.referential.models import Offer
from tests.conftest import post
from tests.workflows.conftest import process


def offer(code="VT_SANITAIRE"):
    return db.session.scalars(select(Offer).where(Offer.code == code)).one()


def status_of(structure, code="VT_SANITAIRE"):
    db.session.expire_all()
    row = services.get_deployment(structure.id, offer(code).id)
    return row.status if row else None


def events(kind="deployment.status_changed"):
    return list(db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == kind).order_by(OutboxEvent.id)))


def test_an_animator_sets_the_status_by_hand_on_the_structure_page(client, login_as, make_structure):
    animator = login_as("animateur", ["31"])
    structure = make_structure()
    response = post(client, f"/structures/{structure.id}/services", {"offer_id": offer().id, "status": "deploye"})
    assert response.status_code == 302 and response.location.endswith("#services")
    assert status_of(structure) == "deploye"
    row = services.get_deployment(structure.id, offer().id)
    assert row.source == "manuel" and row.author_id == animator.id
    [event] = events()
    assert event.payload["to_status"] == "deploye" and event.payload["from_status"] is None
    assert event.payload["department"] == "31"
    audit = db.session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "structure_deployment")).one()
    assert audit.parent_id == structure.id
    page = client.get(f"/structures/{structure.id}").get_data(as_text=True)
    assert "Services numériques" in page and "Déployé" in page and "ViaTrajectoire" in page


def test_the_page_refuses_an_unknown_status_or_offer_with_a_message(client, login_as, make_structure):
    login_as("animateur", ["31"])
    structure = make_structure()
    response = post(
        client,
        f"/structures/{structure.id}/services",
        {"offer_id": offer().id, "status": "n_importe"},
        follow_redirects=True,
    )
    assert response.status_code == 200 and "Choisissez un statut" in response.get_data(as_text=True)
    response = post(
        client,
        f"/structures/{structure.id}/services",
        {"offer_id": "abc", "status": "deploye"},
        follow_redirects=True,
    )
    assert "Choisissez une offre" in response.get_data(as_text=True)
    assert status_of(structure) is None and events() == []


def test_only_who_edits_the_structure_sets_its_status(client, login_as, make_structure):
    login_as("animateur", ["81"])
    structure = make_structure()
    response = post(client, f"/structures/{structure.id}/services", {"offer_id": offer().id, "status": "deploye"})
    assert response.status_code == 403 and status_of(structure) is None


def test_a_project_puts_the_structure_en_projet(make_user, make_structure):
    animator = make_user("animateur", ["31"])
    structure = make_structure()
    pipeline.create_project(
        {"structure_id": structure.id, "offer_id": offer().id, "title": "VT SMR", "started_on": "2026-11-02"},
        user=animator,
    )
    process()
    assert status_of(structure) == "en_projet"
    row = services.get_deployment(structure.id, offer().id)
    assert row.source == "regle"
    audit = db.session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "structure_deployment")).one()
    assert audit.origin.startswith("Règle automatique")


@pytest.mark.parametrize("higher", ["deploye", "usage_actif"])
def test_a_won_opportunity_never_lowers_a_higher_status(make_user, make_structure, higher):
    animator = make_user("animateur", ["31"])
    structure = make_structure()
    services.set_status(structure, offer().id, higher, source="manuel", user_id=animator.id)
    db.session.commit()
    opportunity = pipeline.create_opportunity(
        {"structure_id": structure.id, "offer_id": offer().id, "title": "VT"}, user=animator
    )
    for stage in ("qualifiee", "proposee", "gagnee"):
        pipeline.change_stage(opportunity, stage, user=animator)
    process()
    assert status_of(structure) == higher
    assert len(events()) == 1


def test_a_won_opportunity_raises_a_lower_status(make_user, make_structure):
    animator = make_user("animateur", ["31"])
    structure = make_structure()
    services.set_status(structure, offer().id, "a_sensibiliser", source="manuel", user_id=animator.id)
    db.session.commit()
    opportunity = pipeline.create_opportunity(
        {"structure_id": structure.id, "offer_id": offer().id, "title": "VT"}, user=animator
    )
    for stage in ("qualifiee", "proposee", "gagnee"):
        pipeline.change_stage(opportunity, stage, user=animator)
    process()
    assert status_of(structure) == "en_projet"
    assert [e.payload["to_status"] for e in events()] == ["a_sensibiliser", "en_projet"]


def test_admin_labels_show_on_the_page(client, login_as, make_structure):
    from crm.deployment.models import DeploymentStatus

    row = db.session.scalars(select(DeploymentStatus).where(DeploymentStatus.code == "deploye")).one()
    row.label = "Installé"
    db.session.commit()
    assert services.status_labels()["deploye"] == "Installé"
    assert [code for code, _ in services.status_choices()][0] == "non_concerne"


def test_eligibility_by_hand_on_the_structure_page_and_offer_settings_by_an_admin(client, login_as, make_structure):
    from crm.deployment.models import EligibilityOverride, OfferDeploymentSettings

    login_as("animateur", ["31"])
    structure = make_structure()  # no sector: not eligible by rule
    assert not services.is_eligible(structure, offer())
    post(client, f"/structures/{structure.id}/services/eligibilite", {"offer_id": offer().id, "choice": "ajoutee"})
    db.session.expire_all()
    assert services.is_eligible(structure, offer())
    assert "Éligibilité fixée à la main" in client.get(f"/structures/{structure.id}").get_data(as_text=True)
    post(client, f"/structures/{structure.id}/services/eligibilite", {"offer_id": offer().id, "choice": "regle"})
    assert db.session.scalar(select(EligibilityOverride.id)) is None
    assert len(events("deployment.eligibility_changed")) == 2
    post(client, "/deconnexion")
    login_as("admin")
    assert client.get("/admin/usages/offres").status_code == 200
    response = post(
        client,
        f"/admin/usages/offres/{offer().id}",
        {"eligible_categories": ["EHPAD", "INCONNUE"], "metric_name": "Orientations", "metric_unit": "demandes"},
    )
    assert response.status_code == 302
    settings = db.session.get(OfferDeploymentSettings, offer().id)
    assert (settings.eligible_categories, settings.metric_name) == ("EHPAD", "Orientations")
    assert len(events("deployment.offer_settings_changed")) == 1
