"""A cancelled registration is confirmed by email (issue 16), whoever cancelled it: the person through their
personal link, or the team from the event page; through a real SMTP server and the real mail worker.
A cancelled event tells its registrants with its own email, not one per registration."""

from __future__ import annotations

from sqlalchemy import func, select

from crm.events import services
from crm.events.registration import emails, registrations
from crm.mail.models import EmailMessage
from crm.platform.extensions import db
from tests.conftest import post
from tests.events.calendars import parse_both
from tests.events.conftest import event_type, make_event, organiser, person, personal_link, send_emails  # noqa: F401
from tests.mail.conftest import run_mail_worker


def _body(received: dict) -> str:
    return received["message"].get_body(preferencelist=("plain",)).get_content()


def _cancellations() -> list[EmailMessage]:
    return list(
        db.session.scalars(
            select(EmailMessage).where(EmailMessage.kind == "registration.cancellation").order_by(EmailMessage.id)
        )
    )


def test_a_registrant_who_cancels_gets_a_confirmation(client, make_event, smtp_server, test_env, redis_conn):
    event = make_event(capacity=10, title="TOP e-santé Ariège", place_name="Salle Isabelle Sandy")
    registration, _ = registrations.register(
        event, person(1, first_name="Hélène", email="helene.dupre@ehpad-foix.fr"), source="public"
    )
    token = personal_link(registration)  # the confirmation (with the personal link) is written
    run_mail_worker(test_env)
    assert [r["message"]["Subject"] for r in smtp_server.received] == ["Inscription confirmée : TOP e-santé Ariège"]
    smtp_server.received.clear()

    assert post(client, f"/e/annuler/{token}").status_code == 200
    run_mail_worker(test_env)

    [received] = smtp_server.received
    assert received["to"] == ["helene.dupre@ehpad-foix.fr"]
    assert received["message"]["Subject"] == "Inscription annulée : TOP e-santé Ariège"
    body = _body(received)
    assert "Bonjour Hélène" in body and "Votre inscription est annulée pour" in body
    assert "« TOP e-santé Ariège »" in body and "Lieu : Salle Isabelle Sandy" in body
    assert "(heure de Paris)" in body and "l'équipe organisatrice" not in body
    assert f"/e/{event.slug}" in body  # registering again stays possible
    # Who held a seat gets METHOD:CANCEL: the invitation leaves their agenda.
    [ics] = list(received["message"].iter_attachments())
    assert ics.get_param("method") == "CANCEL"
    _, calendar = parse_both(ics.get_content())
    assert calendar.vevent.uid.value == event.uid

    # Posting the link again changes nothing and sends nothing more.
    assert post(client, f"/e/annuler/{token}").status_code == 410
    run_mail_worker(test_env)
    assert len(smtp_server.received) == 1 and len(_cancellations()) == 1


def test_leaving_the_waiting_list_is_confirmed_without_an_invitation(make_event, smtp_server, test_env, redis_conn):
    event = make_event(capacity=1, title="Webinaire DMP")
    registrations.register(event, person(1), source="public")
    waiting, outcome = registrations.register(event, person(2), source="public")
    assert outcome == "attente"
    send_emails()  # the waiting-list email
    registrations.cancel(waiting)
    run_mail_worker(test_env)
    [received] = [r for r in smtp_server.received if "quittée" in r["message"]["Subject"]]
    assert received["to"] == [waiting.email]
    assert received["message"]["Subject"] == "Liste d'attente quittée : Webinaire DMP"
    assert "Vous avez quitté la liste d'attente de" in _body(received)
    assert list(received["message"].iter_attachments()) == []


def test_the_team_cancelling_someone_tells_them(client, login_as, make_event, smtp_server, test_env, redis_conn):
    event = make_event(title="TOP e-santé Lot")
    registration, _ = registrations.register(event, person(1, email="marc@ch-cahors.fr"), source="public")
    send_emails()
    login_as("organisateur")
    url = f"/evenements/{event.id}/inscriptions/{registration.id}/statut"
    assert post(client, url, {"status": "annule"}).status_code == 302
    run_mail_worker(test_env)
    [received] = [r for r in smtp_server.received if "annulée" in r["message"]["Subject"]]
    assert received["to"] == ["marc@ch-cahors.fr"]
    assert received["message"]["Subject"] == "Inscription annulée : TOP e-santé Lot"
    assert "Cette annulation a été faite par l'équipe organisatrice" in _body(received)
    [message] = _cancellations()
    assert message.created_by_id is not None and message.related_id == registration.id


def test_one_email_per_cancellation_and_a_new_one_after_registering_again(make_event):
    event = make_event()
    registration, _ = registrations.register(event, person(1), source="public")
    send_emails()
    registrations.cancel(registration)
    assert emails.cancellation(registration, from_status="inscrit") is None  # the same cancellation: once
    db.session.commit()
    registrations.register(event, person(1), source="public")
    send_emails()
    registrations.cancel(registration)
    assert len(_cancellations()) == 2


def test_no_cancellation_email_for_a_registration_never_confirmed(make_event):
    """Cancelled before the worker wrote the confirmation: the rule writes none, and nothing is taken back."""
    event = make_event()
    registration, _ = registrations.register(event, person(1), source="public")
    registrations.cancel(registration)
    send_emails()
    assert db.session.scalar(select(func.count()).select_from(EmailMessage)) == 0


def test_a_cancelled_event_tells_each_registrant_once(make_event, organiser, smtp_server, test_env, redis_conn):
    event = make_event(capacity=1, title="TOP e-santé Tarn")
    seated, _ = registrations.register(event, person(1), source="public")
    waiting, _ = registrations.register(event, person(2), source="public")
    services.change_status(event, "annule", user=organiser)
    run_mail_worker(test_env)
    by_address = {r["to"][0]: r["message"] for r in smtp_server.received}
    assert set(by_address) == {seated.email, waiting.email}
    for message in by_address.values():
        assert message["Subject"] == "Événement annulé : TOP e-santé Tarn"
        assert "est annulé" in message.get_body(preferencelist=("plain",)).get_content()
    assert [a.get_param("method") for a in by_address[seated.email].iter_attachments()] == ["CANCEL"]
    assert db.session.scalar(select(func.count()).select_from(EmailMessage)) == 2
    assert _cancellations() == []
