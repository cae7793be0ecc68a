"""In a real browser: log in, search a structure with accents folded, edit it."""

from sqlalchemy import select

from crm.platform.extensions import db
from crm.platform.models import AuditEntry
from crm.structures.models import Structure
from tests.conftest import PASSWORD


def test_animator_logs_in_searches_and_edits(page, live_server, make_user, make_structure):
    user = make_user("animateur", ["31"])
    target = make_structure(name="EHPAD L'OUSTAL", commune="SAINT-GAUDENS", phone="0561000000")
    make_structure(name="EHPAD Les Tilleuls", commune="Toulouse")

    page.goto(f"{live_server}/structures")
    assert "/connexion" in page.url  # redirected to log in
    page.get_by_label("Adresse e-mail").fill(user.email)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/structures**")

    page.get_by_label("Recherche (nom, FINESS, SIRET, commune)").fill("ehpad saint gaudens")
    page.get_by_role("button", name="Rechercher").click()
    page.wait_for_url("**q=ehpad+saint+gaudens**")
    assert page.get_by_text("1 structure", exact=True).is_visible()
    page.get_by_role("link", name="EHPAD L'OUSTAL").click()
    page.wait_for_url(f"**/structures/{target.id}")

    page.get_by_role("link", name="Modifier").first.click()
    page.get_by_label("Téléphone").fill("05 61 89 00 00")
    page.get_by_label("Commune").fill("Saint-Gaudens")
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url(f"**/structures/{target.id}")
    assert page.get_by_text("Modifications enregistrées.").is_visible()
    assert page.get_by_text("0561890000").first.is_visible()

    db.session.expire_all()
    saved = db.session.get(Structure, target.id)
    assert saved.phone == "0561890000" and saved.commune == "Saint-Gaudens"
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "update")).one()
    assert entry.user_id == user.id and entry.changes["phone"] == ["0561000000", "0561890000"]


def test_validation_error_is_shown_next_to_the_field(page, live_server, make_user, make_structure):
    user = make_user("animateur", ["31"])
    target = make_structure(name="SSIAD du Comminges")
    page.goto(f"{live_server}/connexion")
    page.get_by_label("Adresse e-mail").fill(user.email)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.goto(f"{live_server}/structures/{target.id}/modifier")
    page.get_by_label("N° FINESS établissement").fill("310000012")
    page.get_by_role("button", name="Enregistrer").click()
    error = page.locator("#finess_et-err")
    assert "clé de contrôle" in error.inner_text()
    assert page.get_by_label("N° FINESS établissement").get_attribute("aria-invalid") == "true"
