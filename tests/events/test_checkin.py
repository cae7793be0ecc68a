"""The check-in screen: search by name, one tap marks present, walk-ins, closing the check-in, the sheet."""

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.events.followup.attendance import attendance_error
from crm.events.models import Registration
from crm.events.registration import checkin, registrations
from crm.platform.dates import local_date
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent, utcnow
from crm.platform.text import fold
from crm.platform.validation import ValidationFailed
from tests.conftest import csrf_token, post
from tests.events.conftest import page_text, person


def test_search_mark_present_and_finish(client, login_as, make_event):
    event = make_event(capacity=10, days=0)
    dupont, _ = registrations.register(event, person(1, first_name="Élodie", last_name="Dupont"), source="public")
    registrations.register(event, person(2, first_name="Marc", last_name="Dupuis"), source="public")
    excused, _ = registrations.register(event, person(3, first_name="Anne", last_name="Martin"), source="public")
    checkin.mark_attendance(excused, "excuse")
    login_as("organisateur")
    page = page_text(client.get(f"/evenements/{event.id}/accueil"))
    assert "Clôturer l'accueil" in page
    found = client.get(f"/evenements/{event.id}/accueil/recherche?q=dup").get_json()
    assert [r["name"] for r in found["results"]] == ["Élodie Dupont", "Marc Dupuis"]
    assert [
        r["name"] for r in client.get(f"/evenements/{event.id}/accueil/recherche?q=elodie").get_json()["results"]
    ] == ["Élodie Dupont"]
    url = found["results"][0]["url"]
    response = client.post(
        url, data={"status": "present"}, headers={"Accept": "application/json", "X-CSRFToken": csrf_token(client)}
    )
    assert response.status_code == 200 and response.get_json()["status"] == "present"
    bad = client.post(
        url, data={"status": "inscrit"}, headers={"Accept": "application/json", "X-CSRFToken": csrf_token(client)}
    )
    assert bad.status_code == 422 and "Statut inconnu" in bad.get_json()["error"]["message"]
    assert client.post(url, data={"status": "present"}, headers={"Accept": "application/json"}).status_code == 400
    post(client, f"/evenements/{event.id}/accueil/cloturer")
    statuses = dict(db.session.execute(select(Registration.last_name, Registration.status)).all())
    assert statuses == {"Dupont": "present", "Dupuis": "absent", "Martin": "excuse"}


def test_walk_in_is_added_present(client, login_as, make_event):
    event = make_event(capacity=1, days=0)
    registrations.register(event, person(1), source="public")
    login_as("organisateur")
    response = post(
        client,
        f"/evenements/{event.id}/accueil/arrivee",
        {f"arrivee-{k}": v for k, v in person(5, structure_name="", department_code="").items()},
    )
    assert response.status_code == 302
    walk_in = db.session.scalars(select(Registration).where(Registration.last_name == "Nom5")).one()
    assert walk_in.status == "present" and walk_in.source == "back_office"
    bad = post(client, f"/evenements/{event.id}/accueil/arrivee", {"arrivee-first_name": "", "arrivee-email": "x"})
    assert bad.status_code == 422 and "Indiquez votre prénom" in page_text(bad)


def test_sign_in_sheet_lists_expected_people(client, login_as, make_event):
    event = make_event(capacity=1)
    registrations.register(event, person(1, last_name="Attendu"), source="public")
    registrations.register(event, person(2, last_name="Enattente"), source="public")
    login_as("manager")
    html = page_text(client.get(f"/evenements/{event.id}/emargement"))
    assert "Attendu" in html and "Enattente" not in html and "Signature" in html


def test_search_is_fast_enough_at_a_thousand_registrants(client, login_as, make_event):
    event = make_event(capacity=None, days=0)
    db.session.execute(
        Registration.__table__.insert(),
        [
            {
                "event_id": event.id,
                "first_name": f"Prénom{n}",
                "last_name": f"Nom{n:04d}",
                "email": f"p{n}@x.fr",
                "email_key": f"p{n}@x.fr",
                "name_key": fold(f"Nom{n:04d} Prénom{n}"),
                "status": "inscrit",
                "source": "import",
                "consent_contact": False,
                "version": 1,
            }
            for n in range(1000)
        ],
    )
    db.session.commit()
    login_as("organisateur")
    started = time.perf_counter()
    result = client.get(f"/evenements/{event.id}/accueil/recherche?q=nom0999").get_json()
    assert [r["name"] for r in result["results"]] == ["Prénom999 Nom0999"]
    assert time.perf_counter() - started < 1.0


def test_attendance_before_the_event_day_is_refused(client, login_as, make_event):
    """Ten days ahead nobody can have come: no present, no absent, no walk-in, no closing, no import (the
    check-in used to count as a participation on that day). Excusing oneself in advance stays possible."""
    event = make_event(capacity=10, days=10)
    early, _ = registrations.register(event, person(1, last_name="Enavance"), source="public")
    excused, _ = registrations.register(event, person(2, last_name="Excusee"), source="public")
    day = f"{local_date(event.starts_at):%d/%m/%Y}"
    with pytest.raises(ValidationFailed, match=f"à partir du jour de l'événement \\(le {day}\\)"):
        checkin.mark_attendance(early, "present")
    with pytest.raises(ValidationFailed, match="à partir du jour"):
        checkin.mark_attendance(early, "absent")
    with pytest.raises(ValidationFailed, match="à partir du jour"):
        checkin.finish_check_in(event)
    checkin.mark_attendance(excused, "excuse")
    assert "à partir du jour" in attendance_error(event)

    login_as("organisateur")
    page = page_text(client.get(f"/evenements/{event.id}/accueil"))
    assert f"La présence se note à partir du jour de l'événement (le {day})." in page
    url = f"/evenements/{event.id}/inscriptions/{early.id}/statut"
    refused = client.post(
        url, data={"status": "present"}, headers={"Accept": "application/json", "X-CSRFToken": csrf_token(client)}
    )
    assert refused.status_code == 422 and "à partir du jour" in refused.get_json()["error"]["message"]
    walk_in = post(
        client,
        f"/evenements/{event.id}/accueil/arrivee",
        {f"arrivee-{k}": v for k, v in person(5, last_name="Arrivee").items()},
    )
    assert walk_in.status_code == 422 and "à partir du jour" in page_text(walk_in)
    closing = post(client, f"/evenements/{event.id}/accueil/cloturer")
    assert closing.status_code == 302
    db.session.expire_all()
    statuses = dict(db.session.execute(select(Registration.last_name, Registration.status)).all())
    assert statuses == {"Enavance": "inscrit", "Excusee": "excuse"}  # and no walk-in half-written
    assert not db.session.scalars(
        select(OutboxEvent.id).where(OutboxEvent.type == "attendance.recorded", OutboxEvent.aggregate_id == early.id)
    ).all()

    event.starts_at, event.ends_at = utcnow(), utcnow() + timedelta(hours=2)  # the day has come
    db.session.commit()
    checkin.mark_attendance(early, "present")
    assert early.status == "present" and attendance_error(event) is None
