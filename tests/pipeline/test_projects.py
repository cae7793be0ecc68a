"""Project pages: list and filters, direct creation, detail, edit, milestones."""

import re
from datetime import date

import pytest
from sqlalchemy import select

from crm.pipeline import services
from crm.pipeline.models import Milestone, Project
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent
from crm.referential.models import Offer
from tests.conftest import login, post


@pytest.fixture
def animator(make_user):
    return make_user("animateur", ["31"])


@pytest.fixture
def structure(make_structure):
    return make_structure(name="EHPAD Les Tilleuls")


@pytest.fixture
def project(animator, structure, offer):
    return services.create_project(
        {"structure_id": structure.id, "offer_id": offer.id, "title": "Déploiement ViaTrajectoire"}, user=animator
    )


def rows(html: str) -> list[str]:
    return re.findall(r'<td><a href="/projets/\d+">([^<]+)</a>', html)


def test_direct_project_from_a_structure(client, animator, structure, offer):
    login(client, animator)
    page = client.get(f"/projets/nouveau?structure_id={structure.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "EHPAD Les Tilleuls" in html and "<optgroup" in html
    assert f'value="{local_today().isoformat()}"' in html
    response = post(
        client,
        f"/projets/nouveau?structure_id={structure.id}",
        {
            "offer_id": offer.id,
            "title": "Déploiement VT",
            "started_on": "2025-02-03",
            "owner_id": "",
            "notes": "Deux sites",
        },
    )
    assert response.status_code == 302
    project = db.session.scalars(select(Project)).one()
    assert response.headers["Location"].endswith(f"/projets/{project.id}")
    assert project.opportunity_id is None and project.owner_id == animator.id
    assert project.started_on == date(2025, 2, 3) and project.programme_id == offer.programme_id
    html = client.get(f"/projets/{project.id}").get_data(as_text=True)
    assert "Engagement direct (sans opportunité)" in html and "Deux sites" in html and "En cours" in html


def test_direct_project_from_scratch_and_its_errors(client, animator, structure, offer, make_structure):
    login(client, animator)
    assert 'data-autocomplete="/structures/autocomplete"' in client.get("/projets/nouveau").get_data(as_text=True)
    response = post(
        client, "/projets/nouveau", {"structure_id": "", "offer_id": "-1", "title": "x" * 300, "started_on": "demain"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    for field in ("structure_id", "offer_id", "title", "started_on"):
        assert f'id="{field}-err"' in html, field
    other = make_structure(name="CH de Béziers", department_code="34")
    response = post(client, "/projets/nouveau", {"structure_id": other.id, "offer_id": offer.id, "title": "X"})
    assert response.status_code == 422 and "pas dans vos départements" in response.get_data(as_text=True)
    assert db.session.scalars(select(Project)).all() == []
    response = post(client, "/projets/nouveau", {"structure_id": structure.id, "offer_id": offer.id, "title": "X"})
    assert response.status_code == 302


def test_unknown_ids_are_404(client, animator, project):
    login(client, animator)
    for url in (
        "/projets/999999",
        "/projets/999999/modifier",
        "/projets/nouveau?structure_id=999999",
        "/projets/99999999999",
    ):
        assert client.get(url).status_code == 404, url
    assert post(client, "/projets/999999/jalons", {"label": "X"}).status_code == 404
    assert post(client, f"/projets/{project.id}/jalons/999999", {"done": "1"}).status_code == 404


def test_project_list_filters_and_pagination(client, animator, make_user, make_structure, offer):
    admin = make_user("admin")
    other = make_user("animateur", ["81"])
    toulouse = make_structure(name="EHPAD Toulouse")
    albi = make_structure(name="CH Albi", department_code="81")
    teleo = db.session.scalars(select(Offer).where(Offer.programme_id != offer.programme_id)).first()
    for i in range(27):
        services.create_project(
            {"structure_id": toulouse.id, "offer_id": offer.id, "title": f"VT {i:02d}"}, user=animator
        )
    suspended = services.create_project(
        {"structure_id": albi.id, "offer_id": teleo.id, "title": "Téléo Albi"}, user=admin
    )
    services.update_project(suspended, {"status": "suspendu"}, user=admin)
    login(client, animator)
    html = client.get("/projets").get_data(as_text=True)
    assert "28 projets" in html and len(rows(html)) == 25 and "Page 1 sur 2" in html
    assert len(rows(client.get("/projets?page=2").get_data(as_text=True))) == 3
    assert rows(client.get("/projets?departement=81").get_data(as_text=True)) == ["Téléo Albi"]
    assert rows(client.get(f"/projets?programme={teleo.programme_id}").get_data(as_text=True)) == ["Téléo Albi"]
    assert rows(client.get("/projets?statut=suspendu").get_data(as_text=True)) == ["Téléo Albi"]
    assert rows(client.get(f"/projets?responsable={other.id}").get_data(as_text=True)) == ["Téléo Albi"]
    assert "27 projets" in client.get("/projets?statut=en_cours").get_data(as_text=True)
    for query in ("?statut=xyz", "?page=abc", "?programme=-1", "?responsable=abc"):
        assert client.get("/projets" + query).status_code == 200, query


def test_detail_of_a_won_project_links_its_opportunity(client, animator, structure, make_opportunity):
    opportunity = make_opportunity(structure, animator, stage="gagnee")
    login(client, animator)
    project = db.session.scalars(select(Project)).one()
    html = client.get(f"/projets/{project.id}").get_data(as_text=True)
    assert f'Opportunité gagnée : <a href="/opportunites/{opportunity.id}">' in html
    assert "Aucun jalon pour l'instant." in html


def test_edit_project_status_and_dates(client, animator, project):
    login(client, animator)
    page = client.get(f"/projets/{project.id}/modifier")
    assert page.status_code == 200 and '<option selected value="en_cours">' in page.get_data(as_text=True)
    response = post(
        client,
        f"/projets/{project.id}/modifier",
        {
            "title": project.title,
            "status": "termine",
            "started_on": "2024-01-10",
            "ended_on": "2023-12-01",
            "notes": "",
            "version": project.version,
        },
    )
    assert response.status_code == 422 and "La date de fin précède la date de début." in response.get_data(as_text=True)
    response = post(
        client,
        f"/projets/{project.id}/modifier",
        {
            "title": project.title,
            "status": "termine",
            "started_on": "2024-01-10",
            "ended_on": "",
            "notes": "Clos",
            "version": project.version,
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    saved = db.session.get(Project, project.id)
    assert saved.status == "termine" and saved.ended_on == local_today() and saved.notes == "Clos"
    event = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "project.status_changed")).one()
    assert event.payload["from_status"] == "en_cours"
    response = post(
        client, f"/projets/{project.id}/modifier", {"title": "X", "status": "inconnu", "started_on": "2024-01-10"}
    )
    assert response.status_code == 422 and "Statut inconnu." in response.get_data(as_text=True)


def test_edit_project_with_a_stale_version_is_409(client, animator, project):
    login(client, animator)
    response = post(
        client,
        f"/projets/{project.id}/modifier",
        {"title": "Autre", "status": "en_cours", "started_on": "2024-01-10", "version": "0"},
    )
    assert response.status_code == 409 and "modifié entre-temps" in response.get_data(as_text=True)


def test_milestones_are_added_and_toggled(client, animator, project):
    login(client, animator)
    response = post(client, f"/projets/{project.id}/jalons", {"label": "Paramétrage", "due_on": "2030-01-15"})
    assert response.status_code == 302 and response.headers["Location"].endswith("#jalons")
    milestone = db.session.scalars(select(Milestone)).one()
    html = client.get(f"/projets/{project.id}").get_data(as_text=True)
    assert "Paramétrage" in html and "échéance 15/01/2030" in html and "Marquer atteint" in html
    assert post(client, f"/projets/{project.id}/jalons/{milestone.id}", {"done": "1"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Milestone, milestone.id).done_on == local_today()
    html = client.get(f"/projets/{project.id}").get_data(as_text=True)
    assert "atteint le" in html and "Remettre à faire" in html
    assert post(client, f"/projets/{project.id}/jalons/{milestone.id}", {"done": "0"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Milestone, milestone.id).done_on is None
    assert post(client, f"/projets/{project.id}/jalons/{milestone.id}", {"done": "peut-être"}).status_code == 400


def test_milestone_errors_and_other_projects_milestone(client, animator, project, structure, offer):
    login(client, animator)
    response = post(client, f"/projets/{project.id}/jalons", {"label": "", "due_on": "15/01/2030"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "Décrivez le jalon." in html and 'id="due_on-err"' in html
    response = post(client, f"/projets/{project.id}/jalons", {"label": "x" * 1000})
    assert response.status_code == 422
    other = services.create_project(
        {"structure_id": structure.id, "offer_id": offer.id, "title": "Autre"}, user=animator
    )
    milestone = services.add_milestone(other, {"label": "Ailleurs"}, user=animator)
    assert post(client, f"/projets/{project.id}/jalons/{milestone.id}", {"done": "1"}).status_code == 404
