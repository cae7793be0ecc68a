"""API events and registrations: roles, validation, transitions, capacity rules, the .ics, conformance."""

from datetime import timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from crm.events import services
from crm.events.models import Event, EventType, Registration
from crm.events.registration import registrations
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent, utcnow


@pytest.fixture
def event_type():
    return db.session.scalars(select(EventType).where(EventType.code == "webinaire")).one()


@pytest.fixture
def organiser_api(api_as):
    return api_as("organisateur", [])


@pytest.fixture
def event(organiser_api, event_type):
    start = utcnow().replace(microsecond=0) + timedelta(days=20)
    event = services.create_event(
        {
            "type_id": event_type.id,
            "title": "Webinaire Mon espace santé",
            "starts_at": start,
            "ends_at": start + timedelta(hours=1),
            "online_url": "https://visio.example.fr/mes",
            "capacity": 1,
        },
        user=organiser_api.user,
    )
    return services.publish_event(event, user=organiser_api.user)


def person(n):
    return {
        "first_name": f"Prénom{n}",
        "last_name": f"Nom{n}",
        "email": f"p{n}@cpts.example.fr",
        "structure_name": "CPTS Sud Toulousain",
        "department_code": "31",
        "consent_contact": True,
    }


def test_create_publish_list_and_read(organiser_api, event_type):
    response = organiser_api.post(
        "/api/v1/events",
        {
            "type_id": event_type.id,
            "title": "Webinaire INS",
            "starts_at": "2031-02-03T10:00",
            "ends_at": "2031-02-03T11:00+01:00",
            "online_url": "https://visio.example.fr/ins",
            "capacity": None,
        },
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["starts_at"] == "2031-02-03T09:00:00+00:00" and body["status"] == "brouillon"
    assert body["counts"]["inscrit"] == 0 and body["public_url"].startswith("http")
    published = organiser_api.patch(body["url"], {"status": "publie", "version": body["version"]}).get_json()
    assert published["status"] == "publie"
    listed = organiser_api.get(f"/api/v1/events?status=publie&type={event_type.id}&period=a_venir").get_json()
    assert [e["id"] for e in listed["data"]] == [body["id"]]
    assert organiser_api.get("/api/v1/events?period=passes").get_json()["meta"]["total"] == 0
    assert organiser_api.get("/api/v1/events?period=hier").status_code == 400


def test_refused_transition_and_stale_version_are_409(organiser_api, event):
    url = f"/api/v1/events/{event.id}"
    response = organiser_api.patch(url, {"status": "brouillon"})
    assert response.status_code == 409 and "Passage impossible" in response.get_json()["error"]["message"]
    assert organiser_api.patch(url, {"title": "Autre", "version": event.version + 5}).status_code == 409
    # The title change of a refused PATCH is not half-written.
    response = organiser_api.patch(url, {"title": "Nouveau titre", "status": "clos"})
    assert response.status_code == 409
    db.session.refresh(event)
    assert event.title == "Webinaire Mon espace santé"


def test_validation_messages_per_field(organiser_api, event_type):
    response = organiser_api.post(
        "/api/v1/events",
        {
            "type_id": event_type.id,
            "title": "",
            "starts_at": "bientôt",
            "ends_at": "2031-01-01T10:00",
            "online_url": "ftp://x",
        },
    )
    assert response.status_code == 422
    assert {"title", "starts_at", "online_url"} <= set(response.get_json()["error"]["fields"])
    response = organiser_api.post(
        "/api/v1/events",
        {
            "type_id": event_type.id,
            "title": "x",
            "capacity": 0,
            "starts_at": "2031-01-01T10:00",
            "ends_at": "2031-01-01T11:00",
        },
    )
    assert response.status_code == 422 and "capacity" in response.get_json()["error"]["fields"]
    assert db.session.scalar(select(func.count()).select_from(Event)) == 0


@pytest.mark.parametrize("role", ["animateur", "manager"])
def test_readers_cannot_write(api_as, event, event_type, role):
    api = api_as(role, ["31"] if role == "animateur" else [])
    assert api.get(f"/api/v1/events/{event.id}").status_code == 200
    assert api.get(f"/api/v1/events/{event.id}/registrations").status_code == 200
    assert (
        api.post(
            "/api/v1/events",
            {"type_id": event_type.id, "title": "x", "starts_at": "2031-01-01T10:00", "ends_at": "2031-01-01T11:00"},
        ).status_code
        == 403
    )
    assert api.patch(f"/api/v1/events/{event.id}", {"status": "annule"}).status_code == 403
    assert api.post(f"/api/v1/events/{event.id}/registrations", person(1)).status_code == 403
    registration, _ = registrations.register(event, person(2), source="public")
    url = f"/api/v1/events/{event.id}/registrations/{registration.id}"
    assert api.patch(url, {"status": "annule"}).status_code == 403
    assert db.session.scalar(select(Registration.status)) == "inscrit"


def test_registrations_follow_the_capacity_and_waiting_list(organiser_api, event):
    url = f"/api/v1/events/{event.id}/registrations"
    first = organiser_api.post(url, person(1))
    assert first.status_code == 201 and first.get_json()["outcome"] == "inscrit"
    assert first.get_json()["source"] == "api"
    second = organiser_api.post(url, person(2)).get_json()
    assert second["outcome"] == "attente" and second["status"] == "attente"
    again = organiser_api.post(url, {**person(1), "email": "P1@CPTS.example.fr"})
    assert again.status_code == 200 and again.get_json()["outcome"] == "existant"
    cancelled = organiser_api.patch(f"{url}/{first.get_json()['id']}", {"status": "annule"})
    assert cancelled.get_json()["status"] == "annule"
    listed = organiser_api.get(f"{url}?status=inscrit").get_json()
    assert [r["email"] for r in listed["data"]] == ["p2@cpts.example.fr"]
    # Twenty days before the event: nobody can have come yet (nothing is written, no event emitted).
    early = organiser_api.patch(f"{url}/{second['id']}", {"status": "present"})
    assert early.status_code == 422, early.get_json()
    assert "à partir du jour de l'événement" in str(early.get_json()["error"])
    db.session.expire_all()
    assert db.session.get(Registration, second["id"]).status == "inscrit"
    event.starts_at = utcnow()  # the day has come
    event.ends_at = event.starts_at + timedelta(hours=1)
    db.session.commit()
    assert organiser_api.patch(f"{url}/{second['id']}", {"status": "present"}).get_json()["status"] == "present"
    bad = organiser_api.patch(f"{url}/{second['id']}", {"status": "inscrit"})
    assert bad.status_code == 422
    types = db.session.scalars(
        select(OutboxEvent.type).where(OutboxEvent.aggregate_type == "registration").order_by(OutboxEvent.id)
    ).all()
    assert types == [
        "registration.created",
        "registration.waitlisted",
        "registration.cancelled",
        "registration.promoted",
        "attendance.recorded",
    ]


def test_registration_validation_and_closed_event(organiser_api, event, event_type):
    url = f"/api/v1/events/{event.id}/registrations"
    response = organiser_api.post(url, {**person(1), "email": "pas-un-email", "first_name": ""})
    assert response.status_code == 422 and {"email", "first_name"} <= set(response.get_json()["error"]["fields"])
    draft = services.create_event(
        {
            "type_id": event_type.id,
            "title": "Brouillon",
            "starts_at": "2031-01-01T10:00",
            "ends_at": "2031-01-01T11:00",
            "online_url": "https://v.example.fr",
        },
        user=organiser_api.user,
    )
    closed = organiser_api.post(f"/api/v1/events/{draft.id}/registrations", person(1))
    assert closed.status_code == 409 and "pas ouvertes" in closed.get_json()["error"]["message"]
    assert db.session.scalar(select(func.count()).select_from(Registration)) == 0
    assert (
        organiser_api.patch(f"/api/v1/events/{draft.id}/registrations/999999", {"status": "annule"}).status_code == 404
    )


def test_ics_download(client, organiser_api, event):
    response = client.get(f"/api/v1/events/{event.id}.ics", headers={"Authorization": f"Bearer {organiser_api.token}"})
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    [vevent] = Calendar.from_ical(response.data).walk("VEVENT")
    assert str(vevent["UID"]) == event.uid
    assert client.get(f"/api/v1/events/{event.id}.ics").status_code == 401
    assert (
        client.get("/api/v1/events/999999.ics", headers={"Authorization": f"Bearer {organiser_api.token}"}).status_code
        == 404
    )


def test_openapi_documents_the_event_endpoints(openapi_document):
    paths = openapi_document["paths"]
    assert {"get", "post"} <= set(paths["/events"]) and {"get", "patch"} <= set(paths["/events/{event_id}"])
    assert {"get", "post"} <= set(paths["/events/{event_id}/registrations"])
    assert "patch" in paths["/events/{event_id}/registrations/{registration_id}"]
    assert "text/calendar" in paths["/events/{event_id}.ics"]["get"]["responses"]["200"]["content"]
