"""In a real browser, with the keyboard only once a page is loaded (issue 16): a visitor registers to an event
on its public page, an organiser checks someone in on the day. axe-core runs on every event page visited:
the event page in each state, its form, the check-in screen, the public page and its confirmation, both
cancellation pages and the admin's emails pages."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from crm.events import services
from crm.events.models import Registration
from crm.events.registration import registrations
from crm.mail.models import EmailMessage
from crm.platform.extensions import db
from crm.platform.models import utcnow
from tests.browser.audit import assert_accessible
from tests.conftest import PASSWORD
from tests.events.conftest import event_type, person, personal_link  # noqa: F401  (fixtures)
from tests.events.factories import add_registration
from tests.events.factories import make_event as event_row


def tab_to(page, selector: str, limit: int = 120) -> None:
    """Press Tab until the focused element matches ``selector`` (fails if the keyboard never gets there)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => !!document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} n'est pas atteignable au clavier (Tab) sur {page.url}")


def focus_is_visible(page) -> bool:
    """The focused element shows it: an outline or a box shadow (:focus-visible styles)."""
    return page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
                   return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none'; }"""
    )


def keyboard_log_in(page, live_server, user) -> None:
    page.goto(f"{live_server}/connexion")
    tab_to(page, "input[type=email], input[name=email]")
    page.keyboard.type(user.email)
    tab_to(page, "input[type=password]")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/connexion" not in url)


def _event(organiser, event_type, *, start, status="publie", **values):  # noqa: F811
    data = {
        "type_id": event_type.id,
        "title": "TOP e-santé Haute-Garonne",
        "starts_at": start,
        "ends_at": start + timedelta(hours=6),
        "place_name": "Hôtel de région",
        "address": "22 boulevard du Maréchal Juin, Toulouse",
        "department_code": "31",
        "capacity": 40,
        **values,
    }
    event = services.create_event(data, user=organiser)
    if status != "brouillon":
        services.change_status(event, "publie", user=organiser)
    if status in ("clos", "annule"):
        services.change_status(event, status, user=organiser)
    return event


def test_a_visitor_registers_with_the_keyboard_only(browser, live_server, make_user, make_structure, event_type):  # noqa: F811
    organiser = make_user("organisateur")
    structure = make_structure(name="EHPAD Les Tilleuls", commune="Muret")
    event = _event(organiser, event_type, start=utcnow().replace(microsecond=0) + timedelta(days=12))
    context = browser.new_context(locale="fr-FR", viewport={"width": 1024, "height": 768})
    page = context.new_page()
    page.set_default_timeout(10000)
    try:
        page.goto(f"{live_server}/e/{event.slug}")
        assert_accessible(page)
        # Sent empty first: the refusal is announced and the page stays accessible.
        tab_to(page, "button[type=submit]")
        page.keyboard.press("Enter")
        page.wait_for_selector("[role=alert]")
        assert page.get_by_text("Indiquez votre prénom.", exact=True).is_visible()  # beside the field
        assert page.get_by_role("link", name="Prénom : Indiquez votre prénom.").is_visible()  # the summary
        assert_accessible(page)
        tab_to(page, "#first_name")
        assert focus_is_visible(page)
        page.keyboard.type("Élodie")
        tab_to(page, "#last_name")
        page.keyboard.type("Dupont")
        tab_to(page, "#email")
        page.keyboard.type("elodie.dupont@ehpad-tilleuls.fr")
        tab_to(page, "#function")
        page.keyboard.type("Directrice")
        tab_to(page, "#structure_query")
        page.keyboard.type("Tilleul")
        page.wait_for_selector("[role=option]")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")  # chooses the suggestion, does not send the form
        assert page.input_value("#structure_id") == str(structure.id)
        tab_to(page, "#consent_contact")
        page.keyboard.press("Space")
        assert page.is_checked("#consent_contact")
        tab_to(page, "button[type=submit]")
        assert focus_is_visible(page)
        page.keyboard.press("Enter")
        page.wait_for_url("**/confirmation")
        assert page.get_by_role("heading", name="Votre demande est enregistrée").is_visible()
        assert_accessible(page)
        registration = db.session.scalars(select(Registration)).one()
        assert registration.structure_id == structure.id and registration.consent_contact
        assert registration.status == "inscrit"

        # Their personal link: the cancellation page names the event; cancelling is a keyboard press too.
        token = personal_link(registration)
        page.goto(f"{live_server}/e/annuler/{token}")
        assert page.locator("[data-event-summary]").get_by_text("TOP e-santé Haute-Garonne").is_visible()
        assert_accessible(page)
        tab_to(page, "button[type=submit]")
        page.keyboard.press("Enter")
        page.wait_for_selector("h1:has-text('Inscription annulée')")
        assert_accessible(page)
        db.session.refresh(registration)
        assert registration.status == "annule"
    finally:
        context.close()


def test_an_organiser_checks_someone_in_with_the_keyboard_only(page, live_server, make_user, event_type):  # noqa: F811
    organiser = make_user("organisateur")
    event = _event(organiser, event_type, start=utcnow().replace(microsecond=0) - timedelta(minutes=5))
    registration, _ = registrations.register(event, person(1, first_name="Élodie", last_name="Dupont"), source="public")
    registrations.register(event, person(2, first_name="Marc", last_name="Durand"), source="public")
    keyboard_log_in(page, live_server, organiser)
    page.goto(f"{live_server}/evenements/{event.id}")
    assert_accessible(page)
    tab_to(page, "a[href$='/accueil']")
    page.keyboard.press("Enter")
    page.wait_for_url("**/accueil")
    assert_accessible(page)
    if not page.evaluate("() => document.activeElement.id === 'checkin-q'"):
        tab_to(page, "#checkin-q")
    page.keyboard.type("dupont")
    page.wait_for_selector("[data-results] li")
    assert page.locator("[data-results] li").count() == 1
    tab_to(page, "[data-results] button")
    assert focus_is_visible(page)
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Élodie Dupont est noté(e) présent(e).")
    assert page.locator('[data-count="present"]').inner_text() == "1"
    assert_accessible(page)
    db.session.refresh(registration)
    assert registration.status == "present"


def test_every_event_page_passes_axe(page, live_server, make_user, event_type):  # noqa: F811
    """The event page in each state, its form, the organiser's cancellation page, and the admin's emails."""
    organiser = make_user("organisateur")
    now = utcnow().replace(microsecond=0)
    events = {
        "brouillon": _event(organiser, event_type, start=now + timedelta(days=20), status="brouillon"),
        "a_venir": _event(organiser, event_type, start=now + timedelta(days=20)),
        "en_cours": _event(organiser, event_type, start=now - timedelta(minutes=5)),
        "annule": _event(organiser, event_type, start=now + timedelta(days=30)),
    }
    for n, key in enumerate(("a_venir", "en_cours", "annule")):
        registrations.register(events[key], person(n + 1), source="public")
    services.change_status(events["annule"], "annule", user=organiser)
    for status in ("publie", "clos"):  # over: the follow-up (bilan, attendance import, survey, what it produced)
        events[f"passe_{status}"] = past = event_row(status=status, days_ago=3, title=f"Webinaire passé ({status})")
        add_registration(past, f"present-{status}@ehpad.fr", status="present")
        add_registration(past, f"absent-{status}@ehpad.fr", status="absent", first_name="Paul")
    keyboard_log_in(page, live_server, organiser)
    for key, event in events.items():
        page.goto(f"{live_server}/evenements/{event.id}")
        assert page.get_by_role("heading", level=1).is_visible(), key
        assert_accessible(page)
    page.goto(f"{live_server}/evenements/{events['a_venir'].id}/annuler")
    assert page.locator("[data-event-summary]").is_visible()
    assert_accessible(page)
    for path in ("/evenements/nouveau", f"/evenements/{events['a_venir'].id}/modifier"):
        page.goto(f"{live_server}{path}")
        assert_accessible(page)
    page.goto(f"{live_server}/e/{events['annule'].slug}")
    assert page.get_by_text("Cet événement est annulé.").is_visible()
    assert_accessible(page)

    admin = make_user("admin")
    page.context.clear_cookies()
    keyboard_log_in(page, live_server, admin)
    page.goto(f"{live_server}/admin/emails/")
    assert page.get_by_role("cell", name="Événement annulé").first.is_visible()
    assert_accessible(page)
    message = db.session.scalars(select(EmailMessage).order_by(EmailMessage.id)).first()
    page.goto(f"{live_server}/admin/emails/{message.id}")
    assert_accessible(page)


def test_cancelling_a_registrant_asks_first(page, live_server, make_user, event_type):  # noqa: F811
    organiser = make_user("organisateur")
    event = _event(organiser, event_type, start=utcnow().replace(microsecond=0) + timedelta(days=12))
    registration, _ = registrations.register(event, person(1, first_name="Élodie", last_name="Dupont"), source="public")
    keyboard_log_in(page, live_server, organiser)
    page.goto(f"{live_server}/evenements/{event.id}")
    action = page.get_by_label("Action pour Élodie Dupont")
    assert action.input_value() == ""  # nothing chosen: no destructive default
    asked = []

    def answer(dialog, accept):
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, False))
    action.select_option("annule")
    apply = page.get_by_role("button", name="Appliquer à Élodie Dupont")
    apply.press("Enter")
    page.wait_for_timeout(300)
    assert asked == ["Annuler l'inscription de Élodie Dupont ? La personne en est prévenue par email."]
    db.session.refresh(registration)
    assert registration.status == "inscrit"
    page.once("dialog", lambda dialog: answer(dialog, True))
    apply.press("Enter")
    page.wait_for_selector("text=Élodie Dupont : Annulé.")
    db.session.refresh(registration)
    assert registration.status == "annule" and len(asked) == 2
