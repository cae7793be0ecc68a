"""End to end: a visitor registers on the public page; real workers write the confirmation (the outbox queue's
drain runs the registration_emails rule) then send it through SMTP (the mail queue)."""

from __future__ import annotations

import re

from sqlalchemy import select

from crm.events import services
from crm.events.models import Registration
from crm.platform.extensions import db
from tests.conftest import post, run_worker_burst
from tests.events.calendars import parse_both
from tests.events.conftest import event_type, make_event, organiser, person  # noqa: F401  (fixtures)
from tests.mail.conftest import run_mail_worker


def test_public_registration_confirmation_then_cancellation(
    app,
    client,
    make_event,
    organiser,
    smtp_server,  # noqa: F811
    test_env,
    redis_conn,
):
    event = make_event(capacity=10, title="TOP e-santé Ariège")
    response = post(
        client,
        f"/e/{event.slug}",
        person(1, first_name="Hélène", last_name="Dupré", email="helene.dupre@ehpad-foix.fr"),
    )
    assert response.status_code == 302
    run_mail_worker(test_env)
    assert smtp_server.received == []  # the request wrote the registration and its event, no email
    run_worker_burst(test_env, queues=("outbox",))
    run_mail_worker(test_env)

    [received] = smtp_server.received
    assert received["to"] == ["helene.dupre@ehpad-foix.fr"]
    mime = received["message"]
    assert mime["Subject"] == "Inscription confirmée : TOP e-santé Ariège"
    assert mime["To"].addresses[0].display_name.startswith("Hélène")
    body = mime.get_body(preferencelist=("plain",)).get_content()
    assert "Bonjour Hélène" in body and "Votre inscription est confirmée" in body
    # Built by the worker, outside any request: from the configured public address.
    link = re.search(re.escape(app.config["CRM_BASE_URL"].rstrip("/")) + r"(/e/annuler/\S+)", body)
    assert link, body
    assert "Confirmer l'annulation" in client.get(link.group(1)).get_data(as_text=True)  # the link works
    [ics] = list(mime.iter_attachments())
    assert ics.get_content_type() == "text/calendar" and ics.get_param("method") == "REQUEST"
    first, second = parse_both(ics.get_content())
    assert first["METHOD"] == "REQUEST" and second.method.value == "REQUEST"
    assert second.vevent.uid.value == event.uid
    assert second.vevent.attendee.value == "mailto:helene.dupre@ehpad-foix.fr"

    # The event is cancelled: everyone registered gets METHOD:CANCEL with the same UID.
    services.change_status(event, "annule", user=organiser)
    run_mail_worker(test_env)
    cancel = smtp_server.received[1]["message"]
    [ics] = list(cancel.iter_attachments())
    assert ics.get_param("method") == "CANCEL"
    _, second = parse_both(ics.get_content())
    assert second.method.value == "CANCEL" and second.vevent.uid.value == event.uid
    assert second.vevent.status.value == "CANCELLED"
    assert int(second.vevent.sequence.value) > 0
    assert db.session.scalars(select(Registration)).one().email == "helene.dupre@ehpad-foix.fr"
