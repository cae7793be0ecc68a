"""Back-office pages: organisers and admins write, animators and managers read, every route checked."""

import pytest
from sqlalchemy import func, select

from crm.events.models import Event, Registration
from crm.events.registration import registrations
from crm.platform.extensions import db
from tests.conftest import post
from tests.events.conftest import person


def _routes(event, registration):
    e, r = event.id, registration.id
    reads = ["/evenements", f"/evenements/{e}", f"/evenements/{e}/emargement", f"/evenements/{e}.ics"]
    writes_get = [
        "/evenements/nouveau",
        f"/evenements/{e}/modifier",
        f"/evenements/{e}/annuler",
        f"/evenements/{e}/dupliquer",
        f"/evenements/{e}/accueil",
        f"/evenements/{e}/accueil/recherche?q=nom",
    ]
    writes_post = [
        ("/evenements/nouveau", {}),
        (f"/evenements/{e}/modifier", {}),
        (f"/evenements/{e}/statut", {"status": "clos"}),
        (f"/evenements/{e}/dupliquer", {}),
        (f"/evenements/{e}/inscriptions", {}),
        (f"/evenements/{e}/inscriptions/{r}/statut", {"status": "present"}),
        (f"/evenements/{e}/accueil/arrivee", {}),
        (f"/evenements/{e}/accueil/cloturer", {}),
    ]
    return reads, writes_get, writes_post


@pytest.mark.parametrize("role", ["animateur", "manager"])
def test_readers_read_and_cannot_write(client, login_as, make_event, role):
    event = make_event(capacity=5)
    registration, _ = registrations.register(event, person(1), source="public")
    login_as(role)
    reads, writes_get, writes_post = _routes(event, registration)
    for url in reads:
        assert client.get(url).status_code == 200, url
    for url in writes_get:
        assert client.get(url).status_code == 403, url
    for url, data in writes_post:
        assert post(client, url, data).status_code == 403, url
    db.session.refresh(registration)
    assert registration.status == "inscrit" and db.session.scalar(select(func.count()).select_from(Event)) == 1


def test_anonymous_is_sent_to_login(client, make_event):
    event = make_event(capacity=5)
    registration, _ = registrations.register(event, person(1), source="public")
    reads, writes_get, writes_post = _routes(event, registration)
    for url in reads + writes_get:
        response = client.get(url)
        assert response.status_code == 302 and "/connexion" in response.headers["Location"], url


@pytest.mark.parametrize("role", ["organisateur", "admin"])
def test_organiser_creates_publishes_and_sees_counts(client, login_as, event_type, role):
    login_as(role, departments=[])
    response = post(
        client,
        "/evenements/nouveau",
        {
            "type_id": str(event_type.id),
            "title": "Rendez-vous ESMS numérique",
            "starts_at": "2031-03-12T09:30",
            "ends_at": "2031-03-12T12:30",
            "place_name": "ARS Occitanie",
            "department_code": "31",
            "capacity": "2",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    event = db.session.scalars(select(Event)).one()
    assert event.starts_at.hour == 8  # 09:30 in Paris (winter) is 08:30 UTC
    page = client.get(f"/evenements/{event.id}").get_data(as_text=True)
    assert "Brouillon" in page and "Publier" in page
    assert post(client, f"/evenements/{event.id}/statut", {"status": "publie"}).status_code == 302
    db.session.refresh(event)
    assert event.status == "publie"
    registrations.register(event, person(1), source="public")
    page = client.get(f"/evenements/{event.id}").get_data(as_text=True)
    assert "Prénom1 Nom1" in page and "1 place prise sur 2" in page
    assert "Rendez-vous ESMS numérique" in client.get("/evenements").get_data(as_text=True)


def test_bad_event_form_shows_french_errors_and_writes_nothing(client, login_as, event_type):
    login_as("organisateur")
    response = post(
        client,
        "/evenements/nouveau",
        {
            "type_id": str(event_type.id),
            "title": "",
            "starts_at": "2031-13-45T10:00",
            "ends_at": "n'importe",
            "capacity": "-2",
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Donnez un titre" in html and "Date et heure invalides" in html and "Capacité invalide" in html
    assert db.session.scalar(select(func.count()).select_from(Event)) == 0


def test_cancel_needs_the_confirmation_step(client, login_as, make_event):
    event = make_event(capacity=5)
    registrations.register(event, person(1), source="public")
    login_as("organisateur")
    response = post(client, f"/evenements/{event.id}/statut", {"status": "annule"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/evenements/{event.id}/annuler")
    db.session.refresh(event)
    assert event.status == "publie"
    assert "1 personne inscrite" in client.get(f"/evenements/{event.id}/annuler").get_data(as_text=True)
    post(client, f"/evenements/{event.id}/statut", {"status": "annule", "confirme": "oui"})
    db.session.refresh(event)
    assert event.status == "annule"


def test_refused_transition_is_a_french_message(client, login_as, make_event):
    event = make_event(status="brouillon")
    login_as("organisateur")
    response = post(client, f"/evenements/{event.id}/statut", {"status": "clos"}, follow_redirects=True)
    assert "Passage impossible" in response.get_data(as_text=True)


def test_duplicate_and_add_by_hand(client, login_as, make_event):
    event = make_event(capacity=1)
    login_as("organisateur")
    response = post(
        client, f"/evenements/{event.id}/dupliquer", {"starts_at": "2031-05-06T09:00", "department_code": "32"}
    )
    assert response.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Event).where(Event.department_code == "32")) == 1
    for n in (1, 2):
        post(client, f"/evenements/{event.id}/inscriptions", person(n, structure_name="", department_code=""))
    statuses = sorted(db.session.scalars(select(Registration.status)))
    assert statuses == ["attente", "inscrit"]
    response = post(client, f"/evenements/{event.id}/inscriptions", person(3, email="faux"))
    assert response.status_code == 422 and "Adresse e-mail invalide" in response.get_data(as_text=True)


def test_unknown_ids_are_404(client, login_as, make_event):
    event = make_event()
    other = make_event()
    registration, _ = registrations.register(other, person(1), source="public")
    login_as("organisateur")
    assert client.get("/evenements/999999").status_code == 404
    assert client.get("/evenements/99999999999").status_code == 404
    url = f"/evenements/{event.id}/inscriptions/{registration.id}/statut"
    assert post(client, url, {"status": "present"}).status_code == 404
