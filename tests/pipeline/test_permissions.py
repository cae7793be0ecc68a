"""Role rules on every pipeline and project route: everyone reads; only the structure's animators and admins write."""

import pytest
from sqlalchemy import select

from crm.pipeline import services
from crm.pipeline.models import Milestone, Opportunity, Project
from crm.platform.extensions import db
from tests.conftest import login, post
from tests.pipeline.conftest import move

READERS = ["manager", "organisateur"]


@pytest.fixture
def records(make_user, make_structure, make_opportunity, offer):
    """An opportunity, a project and a milestone at a structure of department 31."""
    owner = make_user("animateur", ["31"])
    structure = make_structure(name="EHPAD Les Tilleuls")
    opportunity = make_opportunity(structure, owner)
    project = services.create_project(
        {"structure_id": structure.id, "offer_id": offer.id, "title": "Téléo"}, user=owner
    )
    milestone = services.add_milestone(project, {"label": "Formation des IDE"}, user=owner)
    return {
        "structure": structure,
        "opportunity": opportunity,
        "project": project,
        "milestone": milestone,
        "offer": offer,
    }


def read_urls(r):
    return [
        "/pipeline",
        "/opportunites",
        f"/opportunites/{r['opportunity'].id}",
        "/projets",
        f"/projets/{r['project'].id}",
        "/pipeline?departement=31&mes=1",
        "/opportunites?etape=gagnee",
    ]


def form_urls(r):
    return [
        "/opportunites/nouvelle",
        f"/opportunites/nouvelle?structure_id={r['structure'].id}",
        f"/opportunites/{r['opportunity'].id}/modifier",
        "/projets/nouveau",
        f"/projets/nouveau?structure_id={r['structure'].id}",
        f"/projets/{r['project'].id}/modifier",
    ]


def posts(r):
    o, p, m, s = r["opportunity"], r["project"], r["milestone"], r["structure"]
    return [
        ("/opportunites/nouvelle", {"structure_id": s.id, "offer_id": r["offer"].id, "title": "X"}),
        (f"/opportunites/{o.id}/modifier", {"title": "Piraté"}),
        (f"/opportunites/{o.id}/etape", {"stage": "qualifiee"}),
        ("/projets/nouveau", {"structure_id": s.id, "offer_id": r["offer"].id, "title": "X"}),
        (f"/projets/{p.id}/modifier", {"title": "Piraté", "status": "termine", "started_on": "2024-01-01"}),
        (f"/projets/{p.id}/jalons", {"label": "Piraté"}),
        (f"/projets/{p.id}/jalons/{m.id}", {"done": "1"}),
    ]


def unchanged(r):
    db.session.expire_all()
    assert db.session.scalar(select(db.func.count()).select_from(Opportunity)) == 1
    assert db.session.get(Opportunity, r["opportunity"].id).stage == "identifiee"
    assert db.session.get(Opportunity, r["opportunity"].id).title == "ViaTrajectoire grand âge"
    assert db.session.scalar(select(db.func.count()).select_from(Project)) == 1
    assert db.session.get(Project, r["project"].id).title == "Téléo"
    assert db.session.scalar(select(db.func.count()).select_from(Milestone)) == 1
    assert db.session.get(Milestone, r["milestone"].id).done_on is None


@pytest.mark.parametrize("role", READERS + ["animateur", "admin"])
def test_everyone_reads(client, make_user, records, role):
    login(client, make_user(role, ["34"] if role == "animateur" else None))
    for url in read_urls(records):
        assert client.get(url).status_code == 200, url


def test_anonymous_is_sent_to_login(client, records):
    for url in read_urls(records) + form_urls(records):
        response = client.get(url)
        assert response.status_code == 302 and "/connexion" in response.headers["Location"], url


@pytest.mark.parametrize("role", READERS)
def test_readers_get_403_on_forms_and_every_post(client, make_user, records, role):
    login(client, make_user(role))
    for url in form_urls(records):
        assert client.get(url).status_code == 403, url
    for url, data in posts(records):
        assert post(client, url, data).status_code == 403, url
    assert move(client, records["opportunity"].id, {"stage": "qualifiee"}).status_code == 403
    unchanged(records)


@pytest.mark.parametrize("role", READERS)
def test_readers_see_no_write_buttons(client, make_user, records, role):
    login(client, make_user(role))
    board = client.get("/pipeline").get_data(as_text=True)
    assert "Nouvelle opportunité" not in board and "data-move-form" not in board and 'draggable="true"' not in board
    detail = client.get(f"/opportunites/{records['opportunity'].id}").get_data(as_text=True)
    assert "Passer en" not in detail and "/modifier" not in detail
    project = client.get(f"/projets/{records['project'].id}").get_data(as_text=True)
    assert "Marquer atteint" not in project and "Ajouter le jalon" not in project


def test_animator_of_another_department_reads_but_cannot_write(client, make_user, records):
    login(client, make_user("animateur", ["34"]))
    blank_forms = ("/opportunites/nouvelle", "/projets/nouveau")  # any animator may open them for their structures
    for url in form_urls(records):
        assert client.get(url).status_code == (200 if url in blank_forms else 403), url
    for url, data in posts(records):
        response = post(client, url, data)
        # Creation names a structure: the service refuses it field by field (422); the rest is 403.
        assert response.status_code == (422 if url in ("/opportunites/nouvelle", "/projets/nouveau") else 403), url
    unchanged(records)


@pytest.mark.parametrize("role", ["animateur", "admin"])
def test_the_structures_animator_and_admins_write(client, make_user, records, role):
    login(client, make_user(role, ["31"] if role == "animateur" else None))
    for url in form_urls(records):
        assert client.get(url).status_code == 200, url
    expected = [302, 302, 302, 302, 302, 302, 302]
    for (url, data), status in zip(posts(records), expected):
        assert post(client, url, data).status_code == status, url
    db.session.expire_all()
    assert db.session.get(Opportunity, records["opportunity"].id).stage == "qualifiee"
    assert db.session.get(Milestone, records["milestone"].id).done_on is not None


def test_write_links_shown_to_the_structures_animator(client, make_user, records):
    login(client, make_user("animateur", ["31"]))
    board = client.get("/pipeline").get_data(as_text=True)
    assert 'draggable="true"' in board and "data-move-form" in board and "Nouvelle opportunité" in board
