"""The organiser's event page shows what applies where the event stands (issue 16): a draft is prepared and
published, an upcoming event takes registrations, afterwards comes the follow-up, a cancelled one says so.
The registrants' action has no default; the cancellation pages name the event; email kinds are in French."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from crm.events.models import Registration
from crm.events.registration import registrations
from crm.mail.models import EmailMessage, email_kind_label
from crm.mail.services import queue_email
from crm.platform.extensions import db
from tests.conftest import post
from tests.events.conftest import event_type, make_event, organiser, page_text, person, personal_link  # noqa: F401
from tests.events.factories import add_registration
from tests.events.factories import make_event as event_row

# What each part of the page says, so that a test reads as "this state shows that".
SECTIONS = {
    "followup": "Suivi après l'événement",
    "figures": "Bilan de l'événement",
    "produced": "Ce que l'événement a produit",
    "checkin": "Accueil des participants",
    "attendance_counts": 'data-count="present"',
    "public_page": "Page publique :",
    "publish": ">Publier</button>",
    "close": ">Clore</button>",
    "cancel_event": "Annuler l'événement",
    "add_person": "Inscrire quelqu'un",
    "cancelled_notice": "Cet événement est annulé",
    "draft_notice": "Brouillon : l'événement n'est visible que de l'équipe",
}

EXPECTED = {
    "brouillon": {"publish", "cancel_event", "add_person", "draft_notice"},
    "a_venir": {"public_page", "cancel_event", "add_person"},
    "en_cours": {"public_page", "checkin", "close", "cancel_event", "add_person", "attendance_counts", "produced"},
    "termine": {"public_page", "close", "followup", "figures", "produced", "checkin", "attendance_counts"},
    "clos": {"public_page", "followup", "figures", "produced", "attendance_counts"},
    "annule": {"public_page", "cancelled_notice"},
}


def _event_in(phase: str):
    if phase == "brouillon":
        return event_row(status="brouillon", days_ago=-10)
    if phase == "a_venir":
        return event_row(days_ago=-10)
    if phase == "en_cours":
        return event_row(days_ago=0.01)  # started a quarter of an hour ago, for two hours
    if phase == "termine":
        return event_row(days_ago=3)  # published, over, not closed yet
    if phase == "clos":
        return event_row(status="clos", days_ago=3)
    return event_row(status="annule", days_ago=-10)


@pytest.mark.parametrize("phase", list(EXPECTED))
def test_the_event_page_shows_the_sections_of_its_state(client, login_as, phase):
    event = _event_in(phase)
    add_registration(event, "jeanne.martin@ehpad.fr")
    login_as("organisateur")
    response = client.get(f"/evenements/{event.id}")
    assert response.status_code == 200
    html = page_text(response)
    shown = {name for name, marker in SECTIONS.items() if marker in html}
    assert shown == EXPECTED[phase], f"{phase}: en trop {shown - EXPECTED[phase]}, manquant {EXPECTED[phase] - shown}"
    assert "Personnes inscrites" in html and "jeanne.martin@ehpad.fr" in html  # every state lists them
    assert "Page publique" in html  # the source is shown in French, not as a code
    assert "<small>public</small>" not in html


def test_a_future_event_shows_what_it_produced_once_there_is_something(client, login_as):
    event = event_row(days_ago=-10)
    login_as("organisateur")
    assert SECTIONS["produced"] not in page_text(client.get(f"/evenements/{event.id}"))


def _action_select(html: str, registration_id: int) -> str:
    start = html.index(f'id="status-{registration_id}"')
    return html[start : html.index("</select>", start)]


def test_the_registrants_action_starts_on_an_explicit_placeholder(client, login_as, make_event):
    event = make_event(capacity=1)
    seated, _ = registrations.register(event, person(1), source="public")
    waiting, _ = registrations.register(event, person(2), source="public")
    login_as("organisateur")
    html = page_text(client.get(f"/evenements/{event.id}"))
    for registration in (seated, waiting):
        select_html = _action_select(html, registration.id)
        options = re.findall(r"<option[^>]*>[^<]*</option>", select_html)
        assert options[0] == '<option value="" selected>— Choisir une action —</option>'
        assert all(" selected" not in option for option in options[1:])
        [cancel] = [option for option in options if 'value="annule"' in option]
        assert f"data-confirm=\"Annuler l'inscription de {registration.display_name} ?" in cancel
    assert "Retirer de la liste d'attente" in _action_select(html, waiting.id)
    # Before the event's day only "Excusé" is offered besides the cancellation.
    assert 'value="present"' not in _action_select(html, seated.id)
    assert 'value="excuse"' in _action_select(html, seated.id)


def test_applying_the_placeholder_is_refused_in_french(client, login_as, make_event):
    event = make_event()
    registration, _ = registrations.register(event, person(1), source="public")
    login_as("organisateur")
    url = f"/evenements/{event.id}/inscriptions/{registration.id}/statut"
    response = post(client, url, {"status": ""}, follow_redirects=True)
    assert response.status_code == 200
    assert "Choisissez une action dans la liste avant d&#39;appliquer." in response.get_data(as_text=True)
    db.session.refresh(registration)
    assert registration.status == "inscrit"
    # The check-in screen's JSON gets the same message.
    response = post(client, url, {"status": ""}, headers={"Accept": "application/json"})
    assert response.status_code == 422
    assert "Choisissez une action" in response.get_json()["error"]["message"]


def test_every_state_changing_button_of_the_event_page_asks_first(client, login_as):
    """Publish and close confirm in the page; cancelling the event goes through its own page."""
    login_as("organisateur")
    for event in (event_row(status="brouillon", days_ago=-10), event_row(days_ago=0.01)):
        html = page_text(client.get(f"/evenements/{event.id}"))
        for form in re.findall(r"<form method=\"post\"[^>]*>", html):
            if "/statut" in form and "/inscriptions/" not in form:
                assert "data-confirm=" in form, form
        assert f'href="/evenements/{event.id}/annuler"' in html
    checkin = page_text(client.get(f"/evenements/{event.id}/accueil"))
    assert re.search(r'<form[^>]*accueil/cloturer"[^>]*data-confirm="', checkin)


def _summary(html: str) -> str:
    start = html.index("data-event-summary")
    return html[start : html.index("</dl>", start)]


def test_the_organisers_cancellation_page_names_the_event(client, login_as, make_event):
    event = make_event(title="TOP e-santé Gers", place_name="Salle des fêtes", address="1 place de la Mairie, Auch")
    login_as("organisateur")
    summary = _summary(page_text(client.get(f"/evenements/{event.id}/annuler")))
    assert "TOP e-santé Gers" in summary and "Salle des fêtes, 1 place de la Mairie, Auch" in summary
    assert re.search(r"du \d{2}/\d{2}/\d{4} à \d{2}:\d{2}", summary), summary  # the date, the French way


def test_the_public_cancellation_page_names_the_event_before_and_after(client, make_event):
    event = make_event(title="Webinaire DMP", place_name=None, address=None, online_url="https://visio.example.fr/x")
    registration, _ = registrations.register(event, person(1), source="public")
    token = personal_link(registration)
    before = _summary(page_text(client.get(f"/e/annuler/{token}")))
    assert "Webinaire DMP" in before and "En ligne" in before and "du " in before
    response = post(client, f"/e/annuler/{token}")
    after = page_text(response)
    assert "Inscription annulée" in after and "Webinaire DMP" in _summary(after)
    again = page_text(client.get(f"/e/annuler/{token}"))
    assert "déjà annulée" in again and "Webinaire DMP" in _summary(again)


def test_email_kinds_are_shown_in_french_with_the_code_as_fallback(client, login_as):
    kinds = ("registration.confirmation", "registration.cancellation", "event.cancelled", "nouveau.type")
    for n, kind in enumerate(kinds):
        queue_email(kind=kind, to_address="a@b.fr", subject=f"Objet {n}", body_text="Bonjour")
    db.session.commit()
    login_as("admin")
    html = page_text(client.get("/admin/emails/"))
    table = html[html.index("<tbody>") :]
    assert "Confirmation d'inscription" in table and "Annulation d'inscription" in table
    assert "Événement annulé" in table
    assert "registration.confirmation" not in table and "nouveau.type" in table  # unknown: its code
    assert re.search(r'<option value="registration.confirmation" *>Confirmation d\'inscription</option>', html)
    message = db.session.scalars(select(EmailMessage).where(EmailMessage.kind == "event.cancelled")).one()
    shown = page_text(client.get(f"/admin/emails/{message.id}"))
    assert "<dd>Événement annulé</dd>" in shown and "event.cancelled" not in shown
    assert email_kind_label(None) == "" and email_kind_label("x.y") == "x.y"


def test_cancelled_registrations_are_not_offered_actions(client, login_as, make_event):
    event = make_event()
    registration, _ = registrations.register(event, person(1), source="public")
    registrations.cancel(registration)
    login_as("organisateur")
    html = page_text(client.get(f"/evenements/{event.id}"))
    row = html[html.index(f'data-registration="{registration.id}"') :].split("</tr>")[0]
    assert "<select" not in row and db.session.get(Registration, registration.id).status == "annule"


def test_the_check_in_offers_no_closing_before_the_day(client, login_as, make_event):
    event = make_event(days=10)
    login_as("organisateur")
    html = page_text(client.get(f"/evenements/{event.id}/accueil"))
    assert "La présence se note à partir du jour de l'événement" in html and "Clôturer l'accueil" not in html


def test_the_cancellation_page_of_an_event_that_cannot_be_cancelled_says_why(client, login_as):
    login_as("organisateur")
    for event, message in (
        (event_row(status="annule", days_ago=-3), "L'événement est déjà au statut « Annulé »."),
        (event_row(status="clos", days_ago=3), "Passage impossible du statut « Clos » au statut « Annulé »."),
    ):
        response = client.get(f"/evenements/{event.id}/annuler", follow_redirects=True)
        html = page_text(response)
        assert message in html and "Oui, annuler l'événement" not in html
