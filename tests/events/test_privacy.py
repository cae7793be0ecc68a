"""What the public surface tells a stranger: no join link, no staff email, nothing about who is registered."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update

from crm.events.ics import event_calendar
from crm.events.registration import registrations
from crm.mail.models import EmailMessage
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent, utcnow
from tests.conftest import login, post
from tests.events.conftest import count_registrations, page_text, person, send_emails

JOIN = "https://visio.esante-occitanie.fr/salle-8c1f-secrete"


def _unfolded(data: bytes) -> str:
    """An iCalendar text with its folded lines joined back, so that a long URL cannot hide across a fold."""
    return data.replace(b"\r\n ", b"").replace(b"\r\n\t", b"").decode("utf-8")


def _online_event(make_event, organiser, **values):
    return make_event(
        capacity=1,
        place_name="",
        address="",
        department_code="",
        online_url=JOIN,
        title="Webinaire DMP en EHPAD",
        **values,
    )


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
    promotion = db.session.scalars(
        select(EmailMessage).where(EmailMessage.related_id == waiting.id, EmailMessage.kind == "registration.promotion")
    ).one()
    assert JOIN in promotion.body_text
    # Staff: the back office's download and their own feed keep it.
    assert JOIN in _unfolded(event_calendar(event, private=True))
    login(client, organiser)
    assert JOIN in _unfolded(client.get(f"/evenements/{event.id}.ics").data)


def _answer(client, event, data) -> tuple[int, str, str]:
    response = post(client, f"/e/{event.slug}", data)
    page = page_text(client.get(response.headers["Location"]))
    return response.status_code, response.headers["Location"], re.sub(r'name="csrf-token" content="[^"]+"', "", page)


def _backdate_emails() -> None:
    """As if the last emails were sent longer ago than the resend throttle."""
    long_ago = utcnow() - timedelta(minutes=registrations.RESEND_MINUTES + 1)
    db.session.execute(update(EmailMessage).values(created_at=long_ago))
    db.session.execute(update(OutboxEvent).values(created_at=long_ago))
    db.session.commit()


def test_the_answer_is_the_same_whoever_is_registered(client, make_event):
    event = make_event(capacity=1)
    new = _answer(client, event, person(1))
    send_emails()
    _backdate_emails()
    already = _answer(client, event, person(1, first_name="Usurpateur"))
    waiting = _answer(client, event, person(2))
    assert new == already == waiting
    status, location, page = new
    assert status == 302 and "etat" not in location and "inscrit" not in location
    assert "Votre demande est enregistrée" in page and "vous recevrez un courriel" in page
    assert "confirmée" not in page.split("Votre demande")[1].split("Ce courriel")[0]
    assert count_registrations() == 2
    # The owner of the address learns their state by email, without a second registration.
    send_emails()
    emails = db.session.scalars(
        select(EmailMessage).where(EmailMessage.to_address == "personne1@ehpad.example.fr").order_by(EmailMessage.id)
    ).all()
    assert [m.kind for m in emails] == ["registration.confirmation"] * 2
    assert "vous étiez déjà inscrit(e)" in emails[1].body_text
    assert "Votre inscription est confirmée" in emails[1].body_text
    assert "Bonjour Prénom1" in emails[1].body_text  # the stored registration, not what the stranger typed
    [waiting_email] = db.session.scalars(
        select(EmailMessage).where(EmailMessage.to_address == "personne2@ehpad.example.fr")
    ).all()
    assert waiting_email.kind == "registration.waiting_list" and "déjà" not in waiting_email.body_text


def test_someone_waiting_who_registers_again_is_told_they_are_still_waiting(client, make_event):
    event = make_event(capacity=1)
    registrations.register(event, person(1), source="public")
    registrations.register(event, person(2), source="public")
    send_emails()
    _backdate_emails()
    assert _answer(client, event, person(2))[0] == 302
    send_emails()
    latest = db.session.scalars(
        select(EmailMessage)
        .where(EmailMessage.to_address == "personne2@ehpad.example.fr")
        .order_by(EmailMessage.id.desc())
    ).first()
    assert latest.kind == "registration.waiting_list" and "vous étiez déjà inscrit(e)" in latest.body_text
    assert count_registrations() == 2
