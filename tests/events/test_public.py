"""The public page: registration form, honeypot, rate limit, bad input on every field, the personal link."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm.events.models import Registration
from crm.events.registration import registrations
from crm.mail.models import EmailMessage
from crm.mail.personal_links import reveal
from crm.platform.extensions import db
from crm.platform.models import utcnow
from tests.conftest import post
from tests.events.conftest import count_registrations, page_text, person, send_emails


def _token_of(email):
    """The personal link of the latest email to ``email``, once the workflow rules have run (as a worker does)."""
    send_emails()
    message = db.session.scalars(
        select(EmailMessage).where(EmailMessage.to_address == email).order_by(EmailMessage.id.desc())
    ).first()
    return re.search(r"/e/annuler/([A-Za-z0-9_-]+)", reveal(message, message.body_text)).group(1)


def test_visitor_registers_and_is_told_so(client, make_event, make_structure):
    event = make_event(capacity=10)
    structure = make_structure(name="Clinique Pasteur", commune="Toulouse")
    page = page_text(client.get(f"/e/{event.slug}"))
    assert "TOP e-santé Haute-Garonne" in page and 'name="website"' in page and "M'inscrire" in page
    response = post(client, f"/e/{event.slug}", person(1, structure_id=str(structure.id), structure_name=""))
    assert response.status_code == 302 and response.headers["Location"].endswith("/confirmation")
    assert "Votre demande est enregistrée" in page_text(client.get(response.headers["Location"]))
    registration = db.session.scalars(select(Registration)).one()
    assert registration.source == "public" and registration.client_ip == "127.0.0.1"
    assert registration.structure_id == structure.id


def test_structure_suggestions_show_only_id_name_commune(client, make_structure):
    make_structure(name="EHPAD Les Tilleuls", commune="Muret", email="direction@x.fr")
    items = client.get("/e/structures?q=tilleul").get_json()
    assert [set(i) for i in items] == [{"id", "name", "commune", "label"}]
    assert client.get("/e/structures?q=a").get_json() == []


def test_full_event_offers_the_waiting_list(client, make_event):
    event = make_event(capacity=1)
    registrations.register(event, person(1), source="public")
    page = page_text(client.get(f"/e/{event.slug}"))
    assert "liste d'attente" in page
    response = post(client, f"/e/{event.slug}", person(2))
    assert response.headers["Location"].endswith("/confirmation")  # the email tells them (see test_privacy)
    assert (
        db.session.scalars(select(Registration).where(Registration.email_key == "personne2@ehpad.example.fr"))
        .one()
        .status
        == "attente"
    )


def test_honeypot_pretends_success_and_stores_nothing(client, make_event):
    event = make_event(capacity=10)
    response = post(client, f"/e/{event.slug}", person(1, website="http://spam.example"))
    assert response.status_code == 302 and "confirmation" in response.headers["Location"]
    assert count_registrations() == 0 and db.session.scalar(select(func.count()).select_from(EmailMessage)) == 0


def test_rate_limit_per_client_address(app, client, make_event):
    event = make_event(capacity=100)
    limit = app.config["EVENT_REGISTRATIONS_PER_IP"]
    app.config["EVENT_REGISTRATIONS_PER_IP"] = 3
    try:
        for n in range(3):
            assert post(client, f"/e/{event.slug}", person(n)).status_code == 302
        response = post(client, f"/e/{event.slug}", person(9))
        assert response.status_code == 429 and "Réessayez dans quelques minutes" in page_text(response)
        assert count_registrations() == 3
    finally:
        app.config["EVENT_REGISTRATIONS_PER_IP"] = limit


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("first_name", "", "Indiquez votre prénom"),
        ("last_name", "", "Indiquez votre nom"),
        ("email", "", "Indiquez votre adresse email"),
        ("email", "jean@", "Adresse e-mail invalide"),
        ("email", "a" * 300 + "@x.fr", "Pas plus de 254"),
        ("function", "f" * 500, "Pas plus de 120"),
        ("structure_id", "12abc", "Structure invalide"),
        ("structure_id", "2147483648", "Structure invalide"),
        ("structure_id", "424242", "Structure inconnue"),
        ("structure_name", "", "Choisissez votre structure"),
        ("structure_name", "x" * 400, "Pas plus de 255"),
        ("department_code", "", "Indiquez le département"),
        ("department_code", "99", "Département inconnu"),
        ("email", "jean dupont@x.fr", "Adresse e-mail invalide"),
        ("first_name", "x" * 100, "Pas plus de 80"),
        ("last_name", "\u202e" * 81, "Pas plus de 80"),
    ],
)
def test_bad_input_on_every_public_field(client, make_event, field, value, message):
    event = make_event(capacity=10)
    before = (count_registrations(), db.session.scalar(select(func.count()).select_from(EmailMessage)))
    response = post(client, f"/e/{event.slug}", person(1, **{field: value}))
    html = page_text(response)
    assert response.status_code == 422 and message in html.replace("'", "'"), html[:200]
    assert (count_registrations(), db.session.scalar(select(func.count()).select_from(EmailMessage))) == before


def test_without_csrf_or_with_nul_bytes_nothing_is_written(client, make_event):
    event = make_event(capacity=10)
    assert client.post(f"/e/{event.slug}", data=person(1)).status_code == 400
    assert post(client, f"/e/{event.slug}", person(1, last_name="No\x00l")).status_code == 400
    assert count_registrations() == 0


def test_drafts_and_unknown_slugs_are_404_and_closed_events_say_so(client, make_event):
    draft = make_event(status="brouillon")
    assert client.get(f"/e/{draft.slug}").status_code == 404
    assert client.get("/e/nexistepas").status_code == 404
    cancelled = make_event(status="annule")
    assert "Cet événement est annulé" in page_text(client.get(f"/e/{cancelled.slug}"))
    response = post(client, f"/e/{cancelled.slug}", person(1))
    assert response.status_code == 409 and count_registrations() == 0


def test_cancellation_link_valid_then_reused(client, make_event):
    event = make_event(capacity=1)
    post(client, f"/e/{event.slug}", person(1))
    post(client, f"/e/{event.slug}", person(2))
    token = _token_of("personne1@ehpad.example.fr")
    page = page_text(client.get(f"/e/annuler/{token}"))
    assert "Confirmer l'annulation" in page
    assert (
        db.session.scalar(select(Registration.status).where(Registration.email_key == "personne1@ehpad.example.fr"))
        == "inscrit"
    )  # a GET (a mail scanner following the link) changes nothing
    response = post(client, f"/e/annuler/{token}")
    assert response.status_code == 200 and "Inscription annulée" in page_text(response)
    statuses = dict(db.session.execute(select(Registration.email_key, Registration.status)).all())
    assert statuses == {"personne1@ehpad.example.fr": "annule", "personne2@ehpad.example.fr": "inscrit"}
    reused = client.get(f"/e/annuler/{token}")
    assert reused.status_code == 410 and "déjà été annulée" in page_text(reused)
    assert post(client, f"/e/annuler/{token}").status_code == 410
    # The promoted person gives the seat back through the link of the promotion email.
    promoted_token = _token_of("personne2@ehpad.example.fr")
    assert "Rendre votre place" in page_text(client.get(f"/e/annuler/{promoted_token}"))


def test_waiting_person_leaves_by_link(client, make_event):
    event = make_event(capacity=1)
    post(client, f"/e/{event.slug}", person(1))
    post(client, f"/e/{event.slug}", person(2))
    token = _token_of("personne2@ehpad.example.fr")
    assert "Quitter la liste d'attente" in page_text(client.get(f"/e/annuler/{token}"))
    assert "Vous avez quitté la liste d'attente" in page_text(post(client, f"/e/annuler/{token}"))


def test_cancellation_link_expired_and_forged(client, make_event):
    event = make_event(capacity=5)
    post(client, f"/e/{event.slug}", person(1))
    token = _token_of("personne1@ehpad.example.fr")
    registration = db.session.scalars(select(Registration)).one()
    registration.token_expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    expired = client.get(f"/e/annuler/{token}")
    assert expired.status_code == 410 and "Lien expiré" in page_text(expired)
    assert post(client, f"/e/annuler/{token}").status_code == 410
    db.session.refresh(registration)
    assert registration.status == "inscrit"
    for forged in (token[:-1] + ("A" if token[-1] != "A" else "B"), "x", "a" * 300):
        response = client.get(f"/e/annuler/{forged}")
        assert response.status_code == 404 and "Lien invalide" in page_text(response)


def test_registering_twice_is_one_registration_and_tells_no_stranger(client, make_event):
    event = make_event(capacity=10)
    first = post(client, f"/e/{event.slug}", person(1))
    second = post(client, f"/e/{event.slug}", person(1, email="Personne1@EHPAD.example.fr", first_name="Autre"))
    assert first.headers["Location"] == second.headers["Location"]
    assert count_registrations() == 1
    assert db.session.scalar(select(Registration.first_name)) == "Prénom1"
