"""An email that cannot be built fails for good with its reason, shown to the admin, never retried in a loop.

Before, the exception left the worker's job, the row stayed "en attente" and the sweep put it back
in line every 15 s forever. The rows here are written as any past cause could have left them
(validation now refuses line breaks in names and titles upstream).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq import Queue

from crm.mail.models import EmailMessage
from crm.platform.extensions import db
from crm.platform.models import utcnow
from tests.conftest import run_worker_burst
from tests.mail.conftest import run_mail_worker

BROKEN = [
    ({"subject": "Inscription\r\nBcc: tous@exemple.fr"}, "ValueError"),
    ({"to_name": "Élodie\nMartínez"}, "CR or LF"),
    ({"to_address": "jean@dupont@chu.fr"}, "HeaderParseError"),
    ({"attachments": ["pas une pièce jointe"]}, "AttributeError"),  # whatever the cause
]


def _reload(message_id: int) -> EmailMessage:
    db.session.expire_all()
    return db.session.get(EmailMessage, message_id)


@pytest.mark.parametrize(("values", "cause"), BROKEN)
def test_unbuildable_email_fails_for_good_and_the_sweep_leaves_it(
    make_message, smtp_server, test_env, redis_conn, values, cause
):
    message = make_message(**values)
    run_mail_worker(test_env)

    failed = _reload(message.id)
    assert failed.status == "abandonne", failed.status
    assert failed.attempts == 1 and failed.next_attempt_at is None
    assert failed.last_error.startswith("Message impossible à construire") and cause in failed.last_error
    assert smtp_server.received == []
    assert Queue("mail", connection=redis_conn).count == 0
    assert len(Queue("mail", connection=redis_conn).scheduled_job_registry) == 0  # no RQ retry either

    # Long past the sweep's grace: a real sweep job on a real worker enqueues nothing for it.
    failed.created_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    sweep = Queue("outbox", connection=redis_conn).enqueue("workflows.jobs.sweep", False)
    run_worker_burst(test_env, queues=("outbox", "mail"))
    assert sweep.return_value()["emails_enqueued"] == 0
    assert _reload(message.id).attempts == 1


def test_without_smtp_an_unbuildable_email_is_not_kept_as_if_fine(make_message, no_smtp, test_env):
    ok = make_message()
    broken = make_message(subject="Rappel\nTOP e-santé")
    run_mail_worker(test_env)
    assert _reload(ok.id).status == "conserve"
    assert _reload(broken.id).status == "abandonne"


def test_the_admin_sees_the_reason_in_the_list_and_the_detail(client, login_as, make_message, no_smtp, test_env):
    message = make_message(to_name="Jean\r\nDupont")
    run_mail_worker(test_env)
    login_as("admin")
    listing = client.get("/admin/emails/?statut=abandonne").get_data(as_text=True)
    assert "Message impossible à construire" in listing
    detail = client.get(f"/admin/emails/{message.id}").get_data(as_text=True)
    assert "Dernière erreur" in detail and "Message impossible à construire" in detail
