"""Each role lands on its own home; the animator's day gathers tasks, activities and their pipeline."""

import re
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import select

from crm.activities.services import log_activity
from crm.events import services as event_services
from crm.events.models import EventType
from crm.pipeline import services as pipeline_services
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.models import utcnow
from crm.referential.models import Offer
from crm.tasks import services as task_services
from tests.conftest import PASSWORD, csrf_token, login


def text_of(response) -> str:
    return unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))


@pytest.mark.parametrize(
    ("role", "landing"),
    [
        ("manager", "/tableau-de-bord"),
        ("organisateur", "/evenements?periode=a_venir&mes=1"),
        ("animateur", "/ma-journee"),
        ("admin", "/admin/"),
    ],
)
def test_each_role_lands_on_its_home_after_login(client, make_user, role, landing):
    user = make_user(role)
    response = client.post(
        "/connexion", data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_token(client)}
    )
    assert response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 302
    assert home.headers["Location"].startswith(landing.split("?")[0])
    if "?" in landing:
        assert home.headers["Location"] == landing
    assert client.get(home.headers["Location"]).status_code == 200


def test_login_keeps_a_safe_next(client, make_user):
    user = make_user("animateur")
    response = client.post(
        "/connexion?next=/activites/nouvelle",
        data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert response.headers["Location"] == "/activites/nouvelle"


def test_organiser_sees_only_their_own_upcoming_events(client, make_user):
    organiser, colleague = make_user("organisateur"), make_user("organisateur")
    event_type = db.session.scalars(select(EventType).where(EventType.code == "top_esante")).one()
    start = utcnow().replace(microsecond=0) + timedelta(days=10)
    for owner, title, days in (
        (organiser, "Atelier à moi", 10),
        (colleague, "Atelier d'une collègue", 10),
        (organiser, "Atelier passé", -30),
    ):
        event_services.create_event(
            {
                "type_id": event_type.id,
                "title": title,
                "starts_at": start + timedelta(days=days - 10),
                "ends_at": start + timedelta(days=days - 10, hours=3),
                "organiser_id": owner.id,
                "online_url": "https://visio.example.fr/atelier",
            },
            user=owner,
        )
    login(client, organiser)
    html = text_of(client.get(client.get("/").headers["Location"]))
    assert "<h1>Mes événements</h1>" in html
    assert "Atelier à moi" in html
    assert "Atelier d'une collègue" not in html and "Atelier passé" not in html
    assert 'name="mes" value="1" checked' in html


def test_my_day_shows_tasks_due_recent_activities_and_the_pipeline_of_my_departments(client, make_user, make_structure):
    animator = make_user("animateur", ["31", "81"])
    other = make_user("animateur", ["31"])
    ehpad = make_structure(name="EHPAD Les Tilleuls", department_code="31")
    clinic = make_structure(name="Clinique du Tarn", department_code="81")
    today = local_today()
    for title, days in (("Relancer le directeur", -2), ("Envoyer la convention", 0), ("Relance lointaine", 20)):
        task_services.create_task(
            {"title": title, "due_on": (today + timedelta(days=days)).isoformat(), "structure_id": ehpad.id},
            user=animator,
        )
    task_services.create_task({"title": "La relance d'un collègue", "due_on": today.isoformat()}, user=other)
    log_activity({"kind": "visite", "structure_ids": [ehpad.id], "subject": "Visite de présentation"}, user=animator)
    log_activity({"kind": "visite", "structure_ids": [ehpad.id], "subject": "Visite du collègue"}, user=other)
    offer = db.session.scalars(select(Offer).where(Offer.code == "VT_GRAND_AGE")).one()
    for structure, stage in ((ehpad, "identifiee"), (ehpad, "identifiee"), (ehpad, "qualifiee"), (clinic, "proposee")):
        opportunity = pipeline_services.create_opportunity(
            {"structure_id": structure.id, "offer_id": offer.id, "title": "ViaTrajectoire"}, user=animator
        )
        if stage != "identifiee":
            pipeline_services.change_stage(opportunity, stage, user=animator)

    login(client, animator)
    response = client.get("/ma-journee")
    assert response.status_code == 200
    html = text_of(response)
    assert "Relancer le directeur" in html and "Envoyer la convention" in html
    assert html.index("Relancer le directeur") < html.index("Envoyer la convention")
    assert "Relance lointaine" not in html and "La relance d'un collègue" not in html
    assert "Visite de présentation" in html and "Visite du collègue" not in html
    # One row per department, a count per open stage linking to the list of that stage and department.
    assert 'href="/opportunites?departement=31&amp;etape=identifiee"' in response.get_data(as_text=True)
    assert re.search(r'departement=31&amp;etape=identifiee"[^>]*>2</a>', response.get_data(as_text=True))
    assert re.search(r'departement=81&amp;etape=proposee"[^>]*>1</a>', response.get_data(as_text=True))
    assert 'href="/pipeline?departement=31"' in response.get_data(as_text=True)
    assert 'href="/activites/nouvelle"' in html and 'href="/opportunites/nouvelle"' in html


@pytest.mark.parametrize("role", ["manager", "organisateur", "admin"])
def test_my_day_is_the_animators_page(client, login_as, role):
    login_as(role)
    assert client.get("/ma-journee").status_code == 403


def test_my_day_needs_a_login(client):
    assert client.get("/ma-journee").status_code == 302
