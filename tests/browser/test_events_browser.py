"""In a real browser: an organiser creates and publishes an event, a visitor registers on its public page
(choosing a known structure through the autocomplete), and the organiser checks them in on the tablet screen."""

from datetime import timedelta

from sqlalchemy import select

from crm.events.models import Event, Registration
from crm.platform.extensions import db
from crm.platform.formatting import PARIS
from crm.platform.models import utcnow
from tests.browser.audit import assert_accessible, assert_no_horizontal_scroll, click_nav
from tests.conftest import PASSWORD


def test_publish_register_and_check_in(browser, page, width, live_server, make_user, make_structure):
    """The organiser's main journey, at 1280 and 768 px (``width``), every page checked by axe-core."""
    organiser = make_user("organisateur")
    structure = make_structure(name="EHPAD Les Tilleuls", commune="Muret")
    page.on("dialog", lambda dialog: dialog.accept())

    # 1. The organiser creates the event (today: the check-in happens on the day) and publishes it.
    page.goto(f"{live_server}/connexion")
    page.get_by_label("Adresse e-mail").fill(organiser.email)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()
    click_nav(page, "Événements")
    assert_accessible(page)
    page.get_by_role("link", name="Nouvel événement").click()
    assert_accessible(page)
    # Started a few minutes ago, so today in Paris at any hour (two hours ahead was tomorrow after 22:00).
    start = (utcnow() - timedelta(minutes=5)).astimezone(PARIS)
    page.get_by_label("Type").select_option(label="TOP e-santé")
    page.get_by_label("Titre").fill("TOP e-santé Haute-Garonne")
    page.get_by_label("Début (heure de Paris)").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Fin (heure de Paris)").fill((start + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Lieu", exact=True).fill("Hôtel de région")
    page.get_by_label("Département du lieu").select_option("31")
    page.get_by_label("Capacité (vide = illimitée)").fill("40")
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url("**/evenements/*")
    assert page.get_by_text("Événement créé (brouillon)").is_visible()
    page.get_by_role("button", name="Publier").click()
    page.wait_for_selector("text=Événement publié")
    assert_accessible(page)
    assert_no_horizontal_scroll(page)
    event = db.session.scalars(select(Event)).one()
    assert event.status == "publie"
    public_url = page.locator(f'a[href$="/e/{event.slug}"]').get_attribute("href")

    # 2. A visitor (no account, another browser context) registers on the public page.
    visitor_context = browser.new_context(locale="fr-FR", viewport={"width": width, "height": 900})
    visitor = visitor_context.new_page()
    visitor.set_default_timeout(10000)
    visitor.goto(public_url)
    visitor.get_by_label("Prénom").fill("Élodie")
    visitor.get_by_label("Nom", exact=True).fill("Dupont")
    visitor.get_by_label("Email professionnel").fill("elodie.dupont@ehpad-tilleuls.fr")
    visitor.get_by_label("Fonction").fill("Directrice")
    visitor.get_by_label("Votre structure").fill("Tilleul")
    visitor.get_by_role("option", name="EHPAD Les Tilleuls – Muret").click()
    visitor.get_by_label("J'accepte d'être recontacté(e)").check()
    visitor.get_by_role("button", name="M'inscrire").click()
    visitor.wait_for_url("**/confirmation")
    assert visitor.get_by_role("heading", name="Votre demande est enregistrée").is_visible()
    visitor_context.close()
    registration = db.session.scalars(select(Registration)).one()
    assert registration.structure_id == structure.id and registration.status == "inscrit"

    # 3. The organiser checks her in on the check-in screen.
    from playwright.sync_api import expect

    page.get_by_role("link", name="Accueil des participants").click()
    page.wait_for_url("**/accueil")
    page.get_by_label("Rechercher un nom").fill("dup")
    button = page.get_by_role("button", name="Marquer Élodie Dupont présent(e)")
    button.click()
    page.wait_for_selector("text=Élodie Dupont est noté(e) présent(e).")
    expect(page.locator('[data-count="present"]')).to_have_text("1")
    assert_accessible(page)
    assert_no_horizontal_scroll(page)
    db.session.refresh(registration)
    assert registration.status == "present" and registration.attended_at is not None
