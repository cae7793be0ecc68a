"""Emails go through a real SMTP server (aiosmtpd), sent by a real RQ worker after the commit."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

from icalendar import Calendar, Event
from rq import Queue
from sqlalchemy import func, select

from crm.mail.models import EmailMessage
from crm.mail.services import queue_email, sweep_pending_emails
from crm.platform.extensions import db
from crm.platform.models import utcnow
from tests.mail.conftest import run_mail_worker


def _invitation(method: str = "REQUEST") -> str:
    calendar = Calendar()
    calendar.add("prodid", "-//Maillage//test//FR")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = Event()
    event.add("uid", "event-7@maillage")
    event.add("summary", "TOP e-santé Tarn-et-Garonne")
    event.add("dtstart", utcnow())
    event.add("dtend", utcnow() + timedelta(hours=3))
    event.add("dtstamp", utcnow())
    calendar.add_component(event)
    return calendar.to_ical().decode()


def _reload(message_id: int) -> EmailMessage:
    db.session.expire_all()
    return db.session.get(EmailMessage, message_id)


def _mail_queue(redis_conn) -> Queue:
    return Queue("mail", connection=redis_conn)


def test_message_is_sent_through_smtp_with_its_invitation(make_message, smtp_server, test_env, redis_conn):
    message = make_message(
        body_html="<p>Votre inscription est <strong>confirmée</strong>.</p>",
        attachments=[{"filename": "invitation.ics", "content_type": "text/calendar", "content": _invitation()}],
    )
    assert _mail_queue(redis_conn).count == 1  # enqueued by the commit, not sent in the request

    run_mail_worker(test_env)

    assert len(smtp_server.received) == 1
    received = smtp_server.received[0]
    assert received["to"] == [message.to_address]
    assert received["from"] == "animation@esante-occitanie.fr"
    mime = received["message"]
    assert mime["Subject"] == "Votre inscription à la journée TOP e-santé"
    assert mime["To"].addresses[0].display_name == "Élodie Martínez"
    assert mime["From"].addresses[0].display_name == "e-santé Occitanie"
    assert mime["Message-ID"] and mime["Date"]
    text = mime.get_body(preferencelist=("plain",))
    assert "Votre inscription est confirmée. À bientôt à Montauban !" in text.get_content()
    assert text.get_content_charset() == "utf-8"
    assert "<strong>confirmée</strong>" in mime.get_body(preferencelist=("html",)).get_content()
    [ics] = list(mime.iter_attachments())
    assert ics.get_content_type() == "text/calendar"
    assert ics.get_param("method") == "REQUEST" and ics.get_content_charset() == "utf-8"
    assert ics.get_filename() == "invitation.ics"
    calendar = Calendar.from_ical(ics.get_content())
    assert calendar["method"] == "REQUEST"
    [event] = calendar.walk("VEVENT")
    assert str(event["summary"]) == "TOP e-santé Tarn-et-Garonne" and str(event["uid"]) == "event-7@maillage"

    sent = _reload(message.id)
    assert sent.status == "envoye" and sent.sent_at is not None and sent.attempts == 1


def test_cancellation_keeps_the_method_given_by_the_caller(make_message, smtp_server, test_env, redis_conn):
    make_message(
        attachments=[
            {
                "filename": "annulation.ics",
                "content_type": "text/calendar; method=CANCEL",
                "content": _invitation("CANCEL"),
            }
        ]
    )
    run_mail_worker(test_env)
    [ics] = list(smtp_server.received[0]["message"].iter_attachments())
    assert ics.get_param("method") == "CANCEL"
    assert Calendar.from_ical(ics.get_content())["method"] == "CANCEL"


def test_without_smtp_messages_are_kept_and_logged(make_message, no_smtp, test_env, redis_conn):
    message = make_message(subject="Rappel : webinaire DMP demain")
    result = run_mail_worker(test_env)
    kept = _reload(message.id)
    assert kept.status == "conserve" and kept.sent_at is None
    output = result.stdout + result.stderr
    assert f"Email {message.id} kept" in output and "Rappel : webinaire DMP demain" in output
    assert "À bientôt à Montauban" in output


def test_a_message_is_never_sent_twice(make_message, smtp_server, test_env, redis_conn):
    from crm.mail.dispatch import enqueue_messages

    message = make_message()
    enqueue_messages([message.id, message.id])  # a sweep and a resend racing the first job
    assert _mail_queue(redis_conn).count == 3
    run_mail_worker(test_env)
    assert len(smtp_server.received) == 1
    assert _reload(message.id).attempts == 1


def test_redis_down_at_commit_keeps_the_message_pending_for_the_sweep(
    app, make_message, smtp_server, test_env, redis_conn
):
    original = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    try:
        message = make_message()  # commits without raising
    finally:
        app.config["REDIS_URL"] = original
    assert _reload(message.id).status == "en_attente"
    assert _mail_queue(redis_conn).count == 0

    assert sweep_pending_emails() == 0  # too recent: its job may still be on its way
    assert sweep_pending_emails(grace=timedelta(0)) == 1
    run_mail_worker(test_env)
    assert len(smtp_server.received) == 1
    assert _reload(message.id).status == "envoye"
    assert sweep_pending_emails(grace=timedelta(0)) == 0


def test_cli_sweep(app, make_message, no_smtp, test_env, redis_conn):
    message = make_message()
    redis_conn.flushdb()  # the job is lost
    result = app.test_cli_runner().invoke(args=["crm", "mail", "sweep", "--grace-minutes", "0"])
    assert result.exit_code == 0 and "Emails remis en file d'envoi : 1" in result.output
    run_mail_worker(test_env)
    assert _reload(message.id).status == "conserve"


def test_rollback_enqueues_nothing(make_message, redis_conn):
    queue_email(kind="test", to_address="a@example.org", subject="Jamais", body_text="Jamais envoyé")
    db.session.flush()
    db.session.rollback()
    assert _mail_queue(redis_conn).count == 0
    assert db.session.scalar(select(func.count()).select_from(EmailMessage)) == 0
    make_message()  # a later commit does not carry the forgotten id
    assert _mail_queue(redis_conn).count == 1


def test_smtp_down_then_retry_succeeds(make_message, smtp_settings, test_env, redis_conn):
    message = make_message()
    run_mail_worker(test_env)  # nothing listens on the port yet

    failed = _reload(message.id)
    assert failed.status == "echec" and failed.attempts == 1
    assert "ConnectionRefusedError" in failed.last_error
    assert failed.next_attempt_at is not None
    next_attempt_at = failed.next_attempt_at.replace(tzinfo=failed.next_attempt_at.tzinfo or UTC)  # SQLite
    assert 20 <= (next_attempt_at - utcnow()).total_seconds() <= 31  # first back-off: 30 s
    queue = _mail_queue(redis_conn)
    [job_id] = queue.scheduled_job_registry.get_job_ids()

    smtp_settings.start()
    queue.scheduled_job_registry.requeue(job_id)  # what the scheduler does when the 30 s are over
    run_mail_worker(test_env)
    sent = _reload(message.id)
    assert sent.status == "envoye" and sent.attempts == 2 and sent.next_attempt_at is None
    assert len(smtp_settings.received) == 1


def test_last_failed_attempt_abandons(make_message, smtp_settings, test_env, redis_conn):
    from rq import Retry

    message = make_message()
    redis_conn.flushdb()
    queue = _mail_queue(redis_conn)
    queue.enqueue("workflows.jobs.send_email", message.id, retry=Retry(max=1, interval=[30]))
    run_mail_worker(test_env)
    assert _reload(message.id).status == "echec"
    queue.scheduled_job_registry.requeue(queue.scheduled_job_registry.get_job_ids()[0])
    run_mail_worker(test_env)
    abandoned = _reload(message.id)
    assert abandoned.status == "abandonne" and abandoned.attempts == 2 and abandoned.next_attempt_at is None
    assert queue.scheduled_job_registry.count == 0


def test_refused_recipient_is_abandoned_at_once(make_message, smtp_server, test_env, redis_conn):
    message = make_message(to_address="parti@ehpad-inconnu.fr")
    smtp_server.handler.refused.add("parti@ehpad-inconnu.fr")
    run_mail_worker(test_env)
    refused = _reload(message.id)
    assert refused.status == "abandonne" and refused.attempts == 1
    assert "parti@ehpad-inconnu.fr" in refused.last_error
    assert _mail_queue(redis_conn).scheduled_job_registry.count == 0


def test_dedupe_key_queues_one_message(make_message, redis_conn):
    first = make_message(dedupe_key="reminder:registration:42")
    assert (
        queue_email(
            kind="test.message",
            to_address="x@example.org",
            subject="Encore",
            body_text="Encore",
            dedupe_key="reminder:registration:42",
        )
        is None
    )
    db.session.commit()
    assert db.session.scalars(select(EmailMessage)).all() == [first]
    assert _mail_queue(redis_conn).count == 1
