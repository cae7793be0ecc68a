"""Event test helpers: an organiser, a published event, a person's registration data, their emails."""

import re
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import func, select

from crm.events import services
from crm.events.models import EventType, Registration
from crm.mail.models import EmailMessage
from crm.mail.personal_links import reveal
from crm.platform.extensions import db
from crm.platform.models import utcnow
from workflows.dispatch import process_pending


@pytest.fixture
def organiser(make_user):
    return make_user("organisateur")


@pytest.fixture
def event_type():
    return db.session.scalars(select(EventType).where(EventType.code == "top_esante")).one()


@pytest.fixture
def make_event(organiser, event_type):
    """An event starting in ``days`` days, published unless told otherwise."""

    def factory(capacity=None, days=10, status="publie", **values):
        start = utcnow().replace(microsecond=0) + timedelta(days=days)
        data = {
            "type_id": event_type.id,
            "title": "TOP e-santé Haute-Garonne",
            "starts_at": start,
            "ends_at": start + timedelta(hours=7),
            "place_name": "Hôtel de région",
            "department_code": "31",
            "address": "22 boulevard du Maréchal Juin, Toulouse",
            "capacity": capacity,
            **values,
        }
        event = services.create_event(data, user=organiser)
        if status in ("publie", "clos", "annule"):
            services.change_status(event, "publie", user=organiser)
        if status in ("clos", "annule"):
            services.change_status(event, status, user=organiser)
        return event

    return factory


def person(n=1, **values):
    data = {
        "first_name": f"Prénom{n}",
        "last_name": f"Nom{n}",
        "email": f"personne{n}@ehpad.example.fr",
        "function": "Directrice",
        "structure_name": "EHPAD Les Lilas",
        "department_code": "31",
        "consent_contact": "y",
    }
    data.update(values)
    return data


def count_registrations() -> int:
    return db.session.scalar(select(func.count()).select_from(Registration))


def page_text(response) -> str:
    """The page's text with HTML entities decoded (Jinja escapes apostrophes in values)."""
    return unescape(response.get_data(as_text=True))


def send_emails() -> None:
    """Run the workflow rules on what was just written, as a worker does after the commit: the
    registration emails (personal links, invitations) are the ``registration_emails`` rule's."""
    process_pending()
    db.session.expire_all()


def personal_link(registration) -> str:
    """The token of the personal link in the registration's latest email as sent (the rules run first)."""
    send_emails()
    message = db.session.scalars(
        select(EmailMessage)
        .where(
            EmailMessage.related_type == "registration",
            EmailMessage.related_id == registration.id,
            EmailMessage.body_text.contains("/e/annuler/"),
        )
        .order_by(EmailMessage.id.desc())
    ).first()
    assert message is not None, "no email with a personal link for this registration"
    return re.search(r"/e/annuler/(\S+)", reveal(message, message.body_text)).group(1)
