"""Satisfaction survey: sent once to each participant present, one answer per registration, even under a race."""

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm.events.followup import survey
from crm.events.followup.survey_models import SurveyInvitation, SurveyResponse
from crm.mail.models import EmailMessage
from crm.mail.personal_links import PLACEHOLDER, reveal
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent, utcnow
from tests.conftest import post
from tests.events.factories import add_registration, make_event


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def links() -> dict[str, str]:
    """Recipient -> token of the survey link in the queued messages."""
    out = {}
    for message in db.session.scalars(select(EmailMessage).where(EmailMessage.kind == "survey.invitation")):
        assert "/e/avis/" + PLACEHOLDER in message.body_text  # the stored copy: the token is masked
        out[message.to_address] = re.search(r"/e/avis/(\S+)", reveal(message, message.body_text)).group(1)
    return out


@pytest.fixture
def ended():
    event = make_event(title="TOP e-santé Gers")
    present = [
        add_registration(event, f"present{n}@ehpad.fr", first_name=f"Prénom{n}", status="present") for n in range(3)
    ]
    add_registration(event, "absent@ehpad.fr", status="absent")
    add_registration(event, "inscrit@ehpad.fr", status="inscrit")
    return event, present


def test_send_survey_queues_one_message_per_present_registration_once(ended):
    event, present = ended
    assert survey.send_survey(event) == 3
    messages = db.session.scalars(select(EmailMessage).order_by(EmailMessage.id)).all()
    assert [m.to_address for m in messages] == [r.email for r in present]
    assert [m.dedupe_key for m in messages] == [f"survey:{r.id}" for r in present]
    assert all(m.subject == "Votre avis sur « TOP e-santé Gers »" for m in messages)
    assert "Bonjour Prénom0" in messages[0].body_text and "/e/avis/" in messages[0].body_text
    invitation = db.session.scalar(select(SurveyInvitation))
    token = links()[present[0].email]
    assert token not in invitation.token_hash and len(invitation.token_hash) == 64  # only the hash is kept
    assert count(OutboxEvent, OutboxEvent.type == "event.survey_sent") == 1
    # Again (the workflow rule after the button): nobody gets a second message, links stay valid.
    assert survey.send_survey(event) == 0
    assert count(EmailMessage) == 3 and count(OutboxEvent, OutboxEvent.type == "event.survey_sent") == 1
    # A participant marked present later gets theirs.
    add_registration(event, "late@ehpad.fr", status="present")
    assert survey.send_survey(event) == 1 and count(EmailMessage) == 4


def test_survey_is_not_sent_before_the_end_or_for_a_draft():
    upcoming = make_event(days_ago=-3)
    add_registration(upcoming, "a@x.fr", status="present")
    with pytest.raises(survey.ValidationFailed, match="une fois l'événement terminé"):
        survey.send_survey(upcoming)
    draft = make_event(status="brouillon")
    with pytest.raises(survey.ValidationFailed, match="publié ou clos"):
        survey.send_survey(draft)
    assert count(EmailMessage) == 0 and count(SurveyInvitation) == 0


def test_public_page_answer_once(client, ended):
    event, present = ended
    survey.send_survey(event)
    token = links()[present[0].email]
    page = client.get(f"/e/avis/{token}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Votre avis sur « TOP e-santé Gers »" in html and 'name="score"' in html

    response = post(client, f"/e/avis/{token}", {"useful": "oui", "score": "4", "comment": "Très concret, merci !"})
    assert response.status_code == 200 and "Merci pour votre avis" in response.get_data(as_text=True)
    answer = db.session.scalar(select(SurveyResponse))
    assert (answer.registration_id, answer.event_id, answer.useful, answer.score, answer.comment) == (
        present[0].id,
        event.id,
        True,
        4,
        "Très concret, merci !",
    )
    events = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "survey.answered")).all()
    assert len(events) == 1 and events[0].payload["score"] == 4 and events[0].payload["event_id"] == event.id

    again = post(client, f"/e/avis/{token}", {"useful": "non", "score": "1"})
    assert again.status_code == 409 and "déjà répondu" in again.get_data(as_text=True)
    assert client.get(f"/e/avis/{token}").status_code == 200
    assert "déjà répondu" in client.get(f"/e/avis/{token}").get_data(as_text=True)
    assert count(SurveyResponse) == 1 and count(OutboxEvent, OutboxEvent.type == "survey.answered") == 1


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"score": "4"}, "useful", "Indiquez si l&#39;événement vous a été utile."),
        ({"useful": "peut-être", "score": "4"}, "useful", "Indiquez si l&#39;événement vous a été utile."),
        ({"useful": "oui"}, "score", "Choisissez une note de 1 à 5."),
        ({"useful": "oui", "score": "6"}, "score", "Choisissez une note de 1 à 5."),
        ({"useful": "oui", "score": "4.5"}, "score", "Choisissez une note de 1 à 5."),
        ({"useful": "oui", "score": "٣"}, "score", "Choisissez une note de 1 à 5."),
        ({"useful": "oui", "score": "3", "comment": "x" * 2001}, "comment", "Pas plus de 2000 caractères."),
    ],
)
def test_bad_answers_are_explained_and_nothing_is_written(client, ended, data, field, message):
    event, present = ended
    survey.send_survey(event)
    token = links()[present[1].email]
    response = post(client, f"/e/avis/{token}", data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert count(SurveyResponse) == 0 and count(OutboxEvent, OutboxEvent.type == "survey.answered") == 0


def test_unknown_forged_and_expired_links(client, ended):
    event, present = ended
    survey.send_survey(event)
    real = links()[present[0].email]
    forged = real[:-1] + ("B" if real.endswith("A") else "A")
    for token in ("inconnu", "x" * 101, forged):
        response = client.get(f"/e/avis/{token}")
        assert response.status_code == 404 and "Lien invalide" in response.get_data(as_text=True)
        assert post(client, f"/e/avis/{token}", {"useful": "oui", "score": "5"}).status_code == 404
    invitation = db.session.scalar(select(SurveyInvitation).where(SurveyInvitation.registration_id == present[2].id))
    invitation.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    token = links()[present[2].email]
    response = post(client, f"/e/avis/{token}", {"useful": "oui", "score": "5"})
    assert response.status_code == 410 and "Enquête close" in response.get_data(as_text=True)
    assert count(SurveyResponse) == 0


def test_post_without_csrf_token_is_refused(client, ended):
    event, present = ended
    survey.send_survey(event)
    token = links()[present[0].email]
    assert client.post(f"/e/avis/{token}", data={"useful": "oui", "score": "5"}).status_code == 400
    assert count(SurveyResponse) == 0


@pytest.mark.parametrize("role, status", [("animateur", 403), ("manager", 403), ("organisateur", 302), ("admin", 302)])
def test_send_button_roles(client, login_as, ended, role, status):
    event, _ = ended
    login_as(role)
    response = post(client, f"/evenements/{event.id}/enquete")
    assert response.status_code == status
    assert count(EmailMessage) == (3 if status == 302 else 0)
    if status == 302:
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "Enquête de satisfaction envoyée à 3 participant(s)." in page


def test_send_button_explains_a_refusal(client, login_as):
    upcoming = make_event(days_ago=-3)
    login_as("organisateur")
    response = post(client, f"/evenements/{upcoming.id}/enquete", follow_redirects=True)
    assert "une fois l&#39;événement terminé" in response.get_data(as_text=True)
    assert client.post(f"/evenements/{upcoming.id}/enquete").status_code == 400  # no CSRF token


def test_simultaneous_submissions_keep_one_answer(app, ended):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL; SQLite serialises them")
    event, present = ended
    survey.send_survey(event)
    token = links()[present[0].email]
    runners = 8
    barrier = threading.Barrier(runners)
    results: list = [None] * runners

    def run(index: int) -> None:
        with app.app_context():
            try:
                invitation, state = survey.invitation_for(token)
                assert state == "valide"
                barrier.wait(timeout=30)  # everyone has seen "not answered yet"
                survey.answer_survey(invitation, {"useful": "oui", "score": str(1 + index % 5)})
                results[index] = "ok"
            except survey.AlreadyAnswered:
                results[index] = "deja"
            except Exception as error:  # reported by the assertion below
                results[index] = error
                db.session.rollback()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(runners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == ["deja"] * (runners - 1) + ["ok"], results
    assert count(SurveyResponse) == 1
    assert count(OutboxEvent, OutboxEvent.type == "survey.answered") == 1
