"""Attendance import page: preview, confirm, idempotent, walk-ins, roles, bad files (nothing written)."""

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crm.events.models import Registration
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent
from tests.conftest import csrf_token, post
from tests.events.factories import add_registration, make_event

FIXTURES = Path(__file__).parent / "fixtures"


def url(event):
    return f"/evenements/{event.id}/presences/import"


def upload(client, event, name, data=None, **fields):
    content = data if data is not None else (FIXTURES / name).read_bytes()
    form = {
        "csrf_token": csrf_token(client),
        "tool": "auto",
        "action": "preview",
        "report": (io.BytesIO(content), name),
        **fields,
    }
    return client.post(url(event), data=form, content_type="multipart/form-data")


def hidden(html, name):
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html) or re.search(
        rf'value="([^"]*)"[^>]*name="{name}"', html
    )
    return match.group(1) if match else None


def outbox(kind):
    return db.session.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == kind))


@pytest.fixture
def webinar():
    event = make_event(title="Webinaire Mon espace santé en EHPAD")
    helene = add_registration(event, "helene.meric@ehpad-les-tilleuls.fr", first_name="Hélène", last_name="Méric")
    jerome = add_registration(
        event, "J.Benazet@ch-saint-gaudens.fr", first_name="Jérôme", last_name="Bénazet", status="present"
    )
    absent = add_registration(event, "absent@ehpad.fr", first_name="Paul", last_name="Absent")
    return {"event": event, "helene": helene, "jerome": jerome, "absent": absent}


def test_preview_then_confirm_marks_present_and_is_idempotent(client, login_as, webinar):
    login_as("organisateur")
    event = webinar["event"]
    response = upload(client, event, "teams_fr.csv")
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert 'data-count="to-mark">1<' in html and 'data-count="already">1<' in html
    assert 'data-count="unknown">2<' in html
    assert "camille.ferrand@esante-occitanie.fr" in html and "Hélène Méric" in html
    assert "ligne(s) sans adresse e-mail" in html
    assert db.session.get(Registration, webinar["helene"].id).status == "inscrit"  # a preview writes nothing
    assert outbox("attendance.recorded") == 0

    upload_id = hidden(html, "upload_id")
    assert upload_id
    response = post(client, url(event), {"upload_id": upload_id, "tool": "auto", "action": "confirm"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Registration, webinar["helene"].id).status == "present"
    assert db.session.get(Registration, webinar["helene"].id).attended_at is not None
    assert db.session.get(Registration, webinar["absent"].id).status == "inscrit"
    assert outbox("attendance.recorded") == 1
    assert db.session.scalar(select(func.count()).select_from(Registration)) == 3  # no walk-in unless asked
    flashed = client.get(f"/evenements/{event.id}/bilan").get_data(as_text=True)
    assert "1 marqué(s) présent(s)" in flashed and "2 adresse(s) inconnue(s)" in flashed

    # The same file again, walk-ins asked: they are added once; the second run changes nothing.
    for _attempt in range(2):
        html = upload(client, event, "teams_fr.csv").get_data(as_text=True)
        response = post(
            client,
            url(event),
            {"upload_id": hidden(html, "upload_id"), "tool": "teams", "action": "confirm", "add_walk_ins": "y"},
        )
        assert response.status_code == 302
    walk_ins = db.session.scalars(
        select(Registration).where(Registration.source == "import").order_by(Registration.email_key)
    ).all()
    assert [(r.email_key, r.status, r.first_name, r.last_name) for r in walk_ins] == [
        ("camille.ferrand@esante-occitanie.fr", "present", "Camille", "Ferrand"),
        ("fdoeuvre@ssiad-comminges.fr", "present", "Françoise", "Dœuvre"),
    ]
    assert outbox("attendance.recorded") == 3 and outbox("registration.created") == 2
    html = upload(client, event, "teams_fr.csv").get_data(as_text=True)
    assert 'data-count="to-mark">0<' in html and 'data-count="unknown">0<' in html
    assert "Rien à changer" in html


def test_livestorm_no_attendees_are_left_alone(client, login_as):
    login_as("admin")
    event = make_event()
    remi = add_registration(event, "remi.esteve@msp-foix.fr", first_name="Rémi", last_name="Estève")
    lucie = add_registration(event, "lucie.bonnet@cpts-toulouse-nord.fr", first_name="Lucie", last_name="Bonnet")
    html = upload(client, event, "livestorm.csv").get_data(as_text=True)
    assert 'data-count="not-attended">1<' in html
    post(client, url(event), {"upload_id": hidden(html, "upload_id"), "tool": "auto", "action": "confirm"})
    db.session.expire_all()
    assert (remi.status, lucie.status) == ("inscrit", "present")


def test_manual_mapping_from_the_page(client, login_as):
    login_as("organisateur")
    event = make_event()
    jean = add_registration(event, "jean.roux@ch-auch.fr")
    data = "Participant;Courriel pro;Minutes\nJean Roux;jean.roux@ch-auch.fr;42\n".encode("cp1252")
    response = upload(client, event, "export.csv", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Aucune colonne d&#39;adresse e-mail" in html
    assert '<option value="Courriel pro"' in html  # the columns found are offered
    upload_id = hidden(html, "upload_id")
    html = post(
        client,
        url(event),
        {
            "upload_id": upload_id,
            "tool": "auto",
            "action": "preview",
            "map_email": "Courriel pro",
            "map_name": "Participant",
        },
    ).get_data(as_text=True)
    assert 'data-count="to-mark">1<' in html
    assert (
        post(
            client,
            url(event),
            {"upload_id": upload_id, "tool": "auto", "action": "confirm", "map_email": "Courriel pro"},
        ).status_code
        == 302
    )
    db.session.expire_all()
    assert jean.status == "present"


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("vide.csv", b"", "Le fichier est vide."),
        ("rapport.xlsx", b"PK\x03\x04" + b"\x00" * 100, "classeur Excel est illisible"),
        ("no_email.csv", None, "Aucune colonne d&#39;adresse e-mail"),
        ("binaire.csv", bytes(range(256)) * 20, "pas un fichier texte CSV"),
    ],
)
def test_bad_files_are_explained_and_change_nothing(client, login_as, webinar, name, data, message):
    login_as("organisateur")
    response = upload(client, webinar["event"], name, data=data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert outbox("attendance.recorded") == 0
    assert (
        db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.entity_type == "registration"))
        == 0
    )


def test_too_large_file_and_lost_upload(client, login_as, webinar, monkeypatch):
    login_as("organisateur")
    monkeypatch.setattr("crm.events.followup.routes.MAX_REPORT_BYTES", 2000)
    response = upload(client, webinar["event"], "teams_fr.csv")
    assert response.status_code == 422 and "trop volumineux" in response.get_data(as_text=True)
    response = post(client, url(webinar["event"]), {"upload_id": "../../etc/passwd", "action": "confirm"})
    assert response.status_code == 422 and "Choisissez le fichier" in response.get_data(as_text=True)
    response = post(client, url(webinar["event"]), {"upload_id": "0" * 32, "action": "confirm"})
    assert response.status_code == 422


def test_a_draft_event_takes_no_attendance(client, login_as):
    login_as("organisateur")
    event = make_event(status="brouillon")
    registration = add_registration(event, "helene.meric@ehpad-les-tilleuls.fr")
    html = upload(client, event, "teams_fr.csv").get_data(as_text=True)
    response = post(client, url(event), {"upload_id": hidden(html, "upload_id"), "action": "confirm"})
    assert response.status_code == 409
    assert "événement publié ou clos" in response.get_data(as_text=True)
    db.session.expire_all()
    assert registration.status == "inscrit" and outbox("attendance.recorded") == 0


@pytest.mark.parametrize("role, status", [("animateur", 403), ("manager", 403), ("organisateur", 200), ("admin", 200)])
def test_roles(client, login_as, role, status):
    event = make_event()
    login_as(role)
    assert client.get(url(event)).status_code == status
    if status == 403:
        assert upload(client, event, "teams_fr.csv").status_code == 403


def test_anonymous_is_sent_to_login_and_unknown_event_is_404(client, login_as):
    event = make_event()
    response = client.get(url(event))
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]
    login_as("organisateur")
    assert client.get("/evenements/999999/presences/import").status_code == 404


def test_without_csrf_token_nothing_happens(client, login_as, webinar):
    login_as("organisateur")
    response = client.post(url(webinar["event"]), data={"action": "confirm", "upload_id": "0" * 32})
    assert response.status_code == 400
