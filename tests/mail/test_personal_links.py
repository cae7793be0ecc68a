"""Personal links are only in the email sent: the stored copy, the admin page and the workers' logs mask them."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from crm.events.followup import survey
from crm.events.models import Registration
from crm.events.registration import links, registrations
from crm.mail.models import EmailMessage
from crm.mail.personal_links import PLACEHOLDER, token_for
from crm.platform.extensions import db
from tests.conftest import login, post, run_worker_burst
from tests.events.conftest import event_type, make_event, organiser, person  # noqa: F401  (fixtures)
from tests.events.factories import add_registration
from tests.events.factories import make_event as make_past_event
from tests.mail.conftest import run_mail_worker


def _output(*results) -> str:
    return "".join(result.stdout + result.stderr for result in results)


def test_the_sent_email_carries_the_link_the_stored_copy_and_logs_do_not(
    app, client, make_event, smtp_server, test_env, make_user
):
    event = make_event(capacity=10, title="TOP e-santé Tarn")
    assert post(client, f"/e/{event.slug}", person(1, email="helene.dupre@ehpad-albi.fr")).status_code == 302
    output = _output(run_worker_burst(test_env, queues=("outbox",)), run_mail_worker(test_env))

    [received] = smtp_server.received
    body = received["message"].get_body(preferencelist=("plain",)).get_content()
    token = re.search(r"/e/annuler/([A-Za-z0-9_-]+)", body).group(1)
    assert token != PLACEHOLDER and len(token) >= 43
    assert "Confirmer l'annulation" in client.get(f"/e/annuler/{token}").get_data(as_text=True)

    message = db.session.scalars(select(EmailMessage)).one()
    assert message.status == "envoye"
    assert token not in message.body_text and f"/e/annuler/{PLACEHOLDER}" in message.body_text
    registration = db.session.scalars(select(Registration)).one()
    assert token not in (registration.cancel_token_hash or "") and registration.cancel_token_hash
    assert token not in output
    login(client, make_user("admin"))
    page = client.get(f"/admin/emails/{message.id}").get_data(as_text=True)
    assert message.subject.split(" :")[0] in page and PLACEHOLDER in page and token not in page


def test_a_resent_email_carries_the_same_working_link(app, client, make_event, smtp_server, test_env):
    """ "Renvoyer" (or a retry) sends the stored message again: the token derived from it is the one hashed."""
    event = make_event(capacity=10)
    registration, _ = registrations.register(event, person(2), source="public")
    run_worker_burst(test_env, queues=("outbox",))
    run_mail_worker(test_env)
    message = db.session.scalars(select(EmailMessage)).one()
    message.status = "echec"  # as if the first attempt had failed
    db.session.commit()
    from crm.mail.services import resend_email

    resend_email(message)
    run_mail_worker(test_env)
    first, second = (r["message"].get_body(preferencelist=("plain",)).get_content() for r in smtp_server.received)
    assert first == second
    token = re.search(r"/e/annuler/([A-Za-z0-9_-]+)", second).group(1)
    db.session.expire_all()
    assert links.by_token(token) == (db.session.get(Registration, registration.id), "valide")


def test_without_smtp_the_kept_message_is_logged_masked(app, make_event, no_smtp, test_env):
    event = make_event(capacity=10)
    registration, _ = registrations.register(event, person(3), source="public")
    output = _output(run_worker_burst(test_env, queues=("outbox",)), run_mail_worker(test_env))
    message = db.session.scalars(select(EmailMessage)).one()
    assert message.status == "conserve"
    token = token_for(message)
    db.session.expire_all()
    assert links.by_token(token)[1] == "valide"  # the real link, had it been sent
    assert f"Email {message.id} kept" in output and PLACEHOLDER in output
    assert token not in output


def test_the_survey_link_is_masked_in_the_stored_copy(app, client, smtp_server, test_env):
    event = make_past_event(title="Webinaire INS", days_ago=2)
    present = add_registration(event, "present@ehpad.fr", first_name="Inès", status="present")
    assert survey.send_survey(event) == 1
    message = db.session.scalars(select(EmailMessage)).one()
    assert f"/e/avis/{PLACEHOLDER}" in message.body_text
    output = _output(run_mail_worker(test_env))
    body = smtp_server.received[0]["message"].get_body(preferencelist=("plain",)).get_content()
    token = re.search(r"/e/avis/([A-Za-z0-9_-]+)", body).group(1)
    assert token not in message.body_text and token not in output
    invitation, state = survey.invitation_for(token)
    assert state == "valide" and invitation.registration_id == present.id


def test_the_access_log_of_a_real_server_masks_the_link_when_it_is_opened(app, make_event, caplog):
    """werkzeug's server logs each request's path: clicking the link must not write the token there."""
    import threading
    import urllib.error
    import urllib.request

    from werkzeug.serving import make_server

    from crm.events.registration.links import hash_token

    event = make_event(capacity=10)
    registration, _ = registrations.register(event, person(4), source="public")
    token = "jeton-secret-de-test-" + "x" * 30
    registration.cancel_token_hash = hash_token(token)
    db.session.commit()
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level("INFO", logger="werkzeug"):
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/e/annuler/{token}?x=1") as response:
                assert "Confirmer l'annulation" in response.read().decode("utf-8")
            with pytest.raises(urllib.error.HTTPError) as unknown:  # no such survey link: logged all the same
                urllib.request.urlopen(f"http://127.0.0.1:{server.port}/e/avis/{token}")
            assert unknown.value.code == 404
    finally:
        server.shutdown()
        thread.join(timeout=10)
    access = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
    assert any(f"/e/annuler/{PLACEHOLDER}?x=1" in line for line in access), access
    assert any(f"/e/avis/{PLACEHOLDER}" in line for line in access), access
    assert not any(token in line for line in access), access
