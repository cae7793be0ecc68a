"""The admin page "Emails envoyés": admins only, filters, detail, attachments, "Renvoyer"."""

from __future__ import annotations

import pytest
from rq import Queue
from sqlalchemy import select

from crm.mail.models import EmailMessage
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent
from tests.conftest import login, post


def _set(message: EmailMessage, **values) -> EmailMessage:
    for key, value in values.items():
        setattr(message, key, value)
    db.session.commit()
    return message


@pytest.mark.parametrize("role", ["animateur", "organisateur", "manager"])
def test_only_admins_see_emails(client, login_as, make_message, role):
    message = make_message()
    login_as(role)
    assert client.get("/admin/emails/").status_code == 403
    assert client.get(f"/admin/emails/{message.id}").status_code == 403
    assert client.get(f"/admin/emails/{message.id}/pieces/1").status_code == 403
    assert post(client, f"/admin/emails/{message.id}/renvoyer").status_code == 403
    assert post(client, "/admin/emails/relancer").status_code == 403


def test_anonymous_is_sent_to_login(client, make_message):
    message = make_message()
    response = client.get(f"/admin/emails/{message.id}")
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]


def test_list_counts_and_filters(client, login_as, make_message):
    sent = _set(make_message(kind="registration.confirmation", subject="Inscription confirmée"), status="envoye")
    _set(make_message(kind="registration.confirmation", subject="Échec ici"), status="echec", attempts=2)
    _set(make_message(kind="event.cancelled", subject="Journée annulée"), status="abandonne", attempts=6)
    make_message(kind="event.cancelled", subject="Toujours en attente")
    login_as("admin")

    html = client.get("/admin/emails/").get_data(as_text=True)
    assert "Emails envoyés" in html
    assert 'data-count="en_attente">1<' in html and 'data-count="echec">1<' in html
    assert 'data-count="abandonne">1<' in html and 'data-count="envoye">1<' in html
    for subject in ("Inscription confirmée", "Échec ici", "Journée annulée", "Toujours en attente"):
        assert subject in html

    html = client.get("/admin/emails/?statut=echec").get_data(as_text=True)
    assert "Échec ici" in html and "Inscription confirmée" not in html
    html = client.get("/admin/emails/?type=event.cancelled").get_data(as_text=True)
    assert "Journée annulée" in html and "Toujours en attente" in html and "Échec ici" not in html
    html = client.get("/admin/emails/?statut=n%27importe&type=" + "x" * 500 + "&page=abc")
    assert html.status_code == 200 and "Aucun email pour ces filtres" in html.get_data(as_text=True)
    assert "Administration" in client.get("/admin/").get_data(as_text=True)
    assert f"/admin/emails/{sent.id}" in client.get("/admin/emails/").get_data(as_text=True)
    assert 'href="/admin/emails/"' in client.get("/admin/").get_data(as_text=True)


def test_detail_and_attachment_download(client, login_as, make_message):
    message = make_message(
        body_text="Bonjour <script>alert(1)</script>",
        attachments=[
            {
                "filename": "invitation.ics",
                "content_type": "text/calendar; method=REQUEST; charset=UTF-8",
                "content": "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n",
            }
        ],
    )
    login_as("admin")
    html = client.get(f"/admin/emails/{message.id}").get_data(as_text=True)
    assert "Votre inscription à la journée TOP e-santé" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "invitation.ics" in html and "Renvoyer" not in html  # pending: nothing to resend

    response = client.get(f"/admin/emails/{message.id}/pieces/1")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/calendar")
    assert response.headers["Content-Disposition"] == 'attachment; filename="invitation.ics"'
    assert b"METHOD:REQUEST" in response.data
    assert client.get(f"/admin/emails/{message.id}/pieces/2").status_code == 404
    assert client.get(f"/admin/emails/{message.id}/pieces/0").status_code == 404
    assert client.get("/admin/emails/999999").status_code == 404


def test_resend_a_failed_message(client, login_as, make_message, redis_conn):
    message = _set(make_message(), status="abandonne", attempts=6, last_error="ConnectionRefusedError")
    redis_conn.flushdb()
    admin = login_as("admin")
    assert "Renvoyer" in client.get(f"/admin/emails/{message.id}").get_data(as_text=True)

    # Without the form's CSRF token the button does nothing.
    assert client.post(f"/admin/emails/{message.id}/renvoyer").status_code == 400
    db.session.expire_all()
    assert db.session.get(EmailMessage, message.id).status == "abandonne"

    response = post(client, f"/admin/emails/{message.id}/renvoyer", follow_redirects=True)
    assert "de nouveau en file" in response.get_data(as_text=True)
    db.session.expire_all()
    resent = db.session.get(EmailMessage, message.id)
    assert resent.status == "en_attente" and resent.attempts == 6
    assert Queue("mail", connection=redis_conn).count == 1
    event = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "email.resend_requested")).one()
    assert event.aggregate_id == message.id and event.actor_id == admin.id
    assert db.session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "email_message")).one()

    # A message that is not failed cannot be resent (it could go out twice).
    response = post(client, f"/admin/emails/{message.id}/renvoyer", follow_redirects=True)
    assert "Seul un email en échec" in response.get_data(as_text=True)
    assert Queue("mail", connection=redis_conn).count == 1


def test_resend_with_redis_down_shows_no_error(app, client, login_as, make_message, redis_conn):
    message = _set(make_message(), status="echec", attempts=1)
    login_as("admin")
    original = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    try:
        response = post(client, f"/admin/emails/{message.id}/renvoyer")
    finally:
        app.config["REDIS_URL"] = original
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(EmailMessage, message.id).status == "en_attente"


def test_sweep_button(client, login_as, make_message, redis_conn):
    message = make_message()
    _set(message, created_at=message.created_at.replace(year=message.created_at.year - 1))
    redis_conn.flushdb()
    login_as("admin")
    response = post(client, "/admin/emails/relancer", follow_redirects=True)
    assert "1 email(s) en attente remis en file" in response.get_data(as_text=True)
    assert Queue("mail", connection=redis_conn).count == 1
