"""The "File d'événements" admin page and the ``crm outbox`` commands."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import pytest
from rq import Queue
from sqlalchemy import func, select, update

from crm.platform.events import record_change
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent, utcnow
from crm.platform.queue import reset_availability
from tests.conftest import csrf_token, login, post
from workflows.dispatch import RETRY_DELAYS

URL = "/admin/file-evenements/"


def write_event(**values) -> int:
    record_change(
        entity_type="activity", entity_id=42, action="test", changes=None, event_type="activity.logged", payload={}
    )
    db.session.commit()
    event_id = db.session.scalar(select(func.max(OutboxEvent.id)))
    if values:
        db.session.execute(update(OutboxEvent).where(OutboxEvent.id == event_id).values(**values))
        db.session.commit()
    return event_id


def dead(event_id: int | None = None) -> int:
    return write_event(
        dead_at=utcnow(),
        attempts=len(RETRY_DELAYS) + 1,
        last_error="test_rule : RuntimeError: <script>alert(1)</script>",
    )


def row(event_id: int) -> OutboxEvent:
    db.session.expire_all()
    return db.session.get(OutboxEvent, event_id)


def text(response) -> str:
    return unescape(response.get_data(as_text=True))


@pytest.fixture
def admin(client, make_user):
    user = make_user("admin", [])
    login(client, user)
    db.session.execute(update(OutboxEvent).values(processed_at=utcnow()))  # the account's own events
    db.session.commit()
    return user


def test_the_page_shows_what_waits_what_retries_and_the_dead_letters(client, admin, redis_conn):
    oldest = write_event(created_at=utcnow() - timedelta(minutes=7))
    retrying = write_event(attempts=2, next_attempt_at=utcnow() + timedelta(minutes=1), last_error="boom")
    parked = dead()
    processed = write_event(processed_at=utcnow())
    response = client.get(URL)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'data-count="pending">2<' in page and 'data-count="retrying">1<' in page
    assert 'data-count="dead">1<' in page
    assert "depuis 7\u00a0min" in page
    assert f'data-event-id="{parked}"' in page and f'data-event-id="{processed}"' not in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page  # errors are escaped
    assert "boom" in page and "Tout rejouer" in page and "Lancer un balayage" in page
    assert oldest and retrying
    assert "File d'événements" in text(client.get("/admin/"))  # linked from the admin index


def test_replay_one_then_all_audited(client, admin, redis_conn):
    first, second, third = dead(), dead(), dead()
    response = post(client, f"{URL}{first}/rejouer")
    assert response.status_code == 302
    assert "remis en file" in text(client.get(URL))
    replayed = row(first)
    assert replayed.dead_at is None and replayed.attempts == 0 and replayed.processed_at is None
    assert row(second).dead_at is not None
    # The replay is recorded (audit entry and its own outbox event) and a drain job is enqueued.
    audit = db.session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "outbox_event")).all()
    assert [(a.entity_id, a.action, a.user_id) for a in audit] == [(first, "replay", admin.id)]
    assert (
        db.session.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == "outbox.replayed"))
        == 1
    )
    assert "workflows.jobs.drain_outbox" in [job.func_name for job in Queue("outbox", connection=redis_conn).jobs]
    # Not (or no longer) dead: said so, nothing changes.
    post(client, f"{URL}{first}/rejouer")
    assert "pas (ou plus) dans les lettres mortes" in text(client.get(URL))
    assert post(client, f"{URL}999999/rejouer").status_code == 404

    post(client, f"{URL}rejouer-tout")
    assert "2 événement(s) remis en file" in text(client.get(URL))
    assert row(second).dead_at is None and row(third).dead_at is None
    post(client, f"{URL}rejouer-tout")
    assert "Aucune lettre morte" in text(client.get(URL))


def test_a_sweep_on_demand_goes_through_the_queue(app, client, admin, redis_conn):
    response = post(client, f"{URL}balayage")
    assert response.status_code == 302
    assert "Balayage demandé" in text(client.get(URL))
    jobs = Queue("outbox", connection=redis_conn).jobs
    assert [(job.func_name, job.kwargs) for job in jobs] == [("workflows.jobs.sweep", {"reschedule": False})]
    original = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    try:
        post(client, f"{URL}balayage")
        assert "injoignable" in text(client.get(URL))
    finally:
        app.config["REDIS_URL"] = original
        reset_availability()


@pytest.mark.parametrize("role", ["animateur", "organisateur", "manager"])
def test_admins_only(client, make_user, role):
    parked = dead()
    login(client, make_user(role))
    assert client.get(URL).status_code == 403
    for url in (f"{URL}{parked}/rejouer", f"{URL}rejouer-tout", f"{URL}balayage"):
        assert post(client, url).status_code == 403
    assert row(parked).dead_at is not None


def test_without_csrf_token_nothing_is_replayed(client, admin):
    parked = dead()
    for data in ({}, {"csrf_token": "forged"}):
        assert client.post(f"{URL}{parked}/rejouer", data=data).status_code == 400
        assert client.post(f"{URL}rejouer-tout", data=data).status_code == 400
    assert row(parked).dead_at is not None
    assert csrf_token(client)


# --- crm outbox ... ---------------------------------------------------------------------------------


def run(app, *args):
    return app.test_cli_runner().invoke(args=["crm", "outbox", *args], catch_exceptions=False)


def test_cli_status_process_sweep(app, redis_conn):
    write_event(created_at=utcnow() - timedelta(seconds=90))
    parked = dead()
    result = run(app, "status")
    assert result.exit_code == 0
    assert "En attente : 1" in result.output and "depuis 1\u00a0min" in result.output
    assert "Lettres mortes : 1" in result.output and f"n°{parked} activity.logged" in result.output
    assert "Balayage périodique : non programmé" in result.output

    result = run(app, "sweep")
    assert result.exit_code == 0 and "Traitement demandé : oui" in result.output
    assert not redis_conn.exists("maillage:outbox:sweep-scheduled")  # the chain is left alone

    result = run(app, "process")
    assert result.exit_code == 0 and "Traités : 1 ;" in result.output
    assert "Traitement demandé : non" in run(app, "sweep").output


def test_cli_replay(app, redis_conn):
    first, second, third = dead(), dead(), dead()
    result = run(app, "replay")
    assert result.exit_code == 2
    result = run(app, "replay", str(first), "999999")
    assert result.exit_code == 1 and f"Remis en file : 1 ({first})" in result.output
    assert "999999" in result.output
    assert row(first).dead_at is None and row(second).dead_at is not None
    result = run(app, "replay", "--all")
    assert result.exit_code == 0 and f"Remis en file : 2 ({second}, {third})" in result.output
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.entity_type == "outbox_event", AuditEntry.origin == "cli")
        )
        == 3
    )


def test_crm_mail_sweep_still_works(app, redis_conn):
    result = app.test_cli_runner().invoke(args=["crm", "mail", "sweep"])
    assert result.exit_code == 0 and "Emails remis en file d'envoi : 0" in result.output
