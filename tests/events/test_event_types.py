"""Event types: the six of the issue loaded once, an editable list in the admin's reference pages."""

import pytest
from sqlalchemy import select

from crm.events import services
from crm.events.models import EventType
from crm.platform.extensions import db
from crm.platform.validation import ValidationFailed
from crm.referential.services import load_reference_data
from tests.conftest import login, post
from tests.events.conftest import page_text


def test_six_types_loaded_idempotently():
    labels = db.session.scalars(select(EventType.label).order_by(EventType.position)).all()
    assert labels == [
        "TOP e-santé",
        "Webinaire",
        "Rendez-vous ESMS numérique",
        "Atelier",
        "Formation",
        "Communauté de pratiques",
    ]
    assert "event_types" not in load_reference_data()


def test_admin_adds_and_deactivates_a_type(client, make_user, event_type):
    login(client, make_user("admin"))
    assert "Types d'événement" in page_text(client.get("/admin/referentiels/"))
    response = post(
        client,
        "/admin/referentiels/types-evenement/nouveau",
        {"code": "journee_regionale", "label": "Journée régionale", "position": "7", "active": "y"},
    )
    assert response.status_code == 302
    assert (
        db.session.scalar(select(EventType.label).where(EventType.code == "journee_regionale")) == "Journée régionale"
    )
    post(
        client,
        f"/admin/referentiels/types-evenement/{event_type.id}",
        {"code": event_type.code, "label": event_type.label, "position": "0"},
    )
    db.session.refresh(event_type)
    assert event_type.active is False


def test_only_admins_edit_types(client, make_user):
    login(client, make_user("organisateur"))
    assert client.get("/admin/referentiels/types-evenement").status_code == 403


def test_an_event_keeps_its_deactivated_type(make_event, organiser, event_type):
    event = make_event()
    event_type.active = False
    db.session.commit()
    services.update_event(event, {"title": "Nouveau titre"}, user=organiser)
    assert event.title == "Nouveau titre"
    with pytest.raises(ValidationFailed, match="Type d'événement inconnu"):
        services.create_event(
            {
                "type_id": event_type.id,
                "title": "x",
                "starts_at": "2031-01-01T10:00",
                "ends_at": "2031-01-01T11:00",
                "online_url": "https://v.example.fr",
            },
            user=organiser,
        )
