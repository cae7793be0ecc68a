"""What the public surface tells a stranger: no join link, no staff email, nothing about who is registered."""
from __future__ import annotations

from sqlalchemy import select

from crm.events import registrations
from crm.events.ics import event_calendar
from crm.extensions import db
from crm.mail.models import EmailMessage
from tests.conftest import login, post
from tests.events.conftest import count_registrations, page_text, person, send_emails

JOIN = "https://visio.esante-occitanie.fr/salle-8c1f-secrete"


def _unfolded(data: bytes) -> str:
    """An iCalendar text with its folded lines joined back, so that a long URL cannot hide across a fold."""
    return data.replace(b"\r\n ", b"").replace(b"\r\n\t", b"").decode("utf-8")


def _online_event(make_event, organiser, **values):
    return make_event(capacity=1, place_name="", address="", department_code="", online_url=JOIN,
                      title="Webinaire DMP en EHPAD", **values)


def test_public_feeds_and_page_hide_the_join_link_and_staff_email(client, make_event, organiser):
    event = _online_event(make_event, organiser)
    feed = _unfolded(client.get("/calendrier/evenements.ics").data)
    download = _unfolded(client.get(f"/calendrier/evenements/{event.slug}.ics").data)
    page = page_text(client.get(f"/e/{event.slug}"))
    for public in (feed, download, page):
        assert "Webinaire DMP en EHPAD" in public
        assert JOIN not in public and "salle-8c1f" not in public
        assert organiser.email not in public
    assert "LOCATION:En ligne" in feed and "LOCATION:En ligne" in download
    assert "ORGANIZER;CN=" in download and "mailto:ne-pas-repondre@localhost" in download
    assert "envoyé aux personnes inscrites" in download


def test_the_join_link_goes_to_seat_holders_and_staff_only(client, make_event, organiser):
    event = _online_event(make_event, organiser)
    seated, _ = registrations.register(event, person(1), source="public")
    waiting, _ = registrations.register(event, person(2), source="public")
    send_emails()
    confirmation = db.session.scalars(select(EmailMessage).where(EmailMessage.related_id == seated.id)).one()
    waiting_list = db.session.scalars(select(EmailMessage).where(EmailMessage.related_id == waiting.id)).one()
    assert f"Lien de connexion : {JOIN}" in confirmation.body_text
    invitation = confirmation.attachments[0]["content"].replace("\r\n ", "")
    assert f"URL:{JOIN}" in invitation and f"mailto:{organiser.email}" in invitation
    assert JOIN not in waiting_list.body_text and "Lieu : En ligne" in waiting_list.body_text
    # The waiting person is given the seat: the promotion brings the link.
    registrations.cancel(seated)
    send_emails()
    promotion = db.session.scalars(select(EmailMessage).where(
        EmailMessage.related_id == waiting.id, EmailMessage.kind == "registration.promotion")).one()
    assert JOIN in promotion.body_text
    # Staff: the back office's download and their own feed keep it.
    assert JOIN in _unfolded(event_calendar(event, private=True))
    login(client, organiser)
    assert JOIN in _unfolded(client.get(f"/evenements/{event.id}.ics").data)
