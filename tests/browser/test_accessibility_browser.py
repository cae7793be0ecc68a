"""Every page each role reaches, at 1280 and 768 px, on the demo data: zero axe-core violations of impact
serious or critical, and no horizontal scroll of the page (wide tables and the board scroll inside their
own box). The public pages too, for a visitor without an account. The accessibility statement is linked
from the footer of every page, and the menu collapses under 900 px.

The crawl follows the links of each page, one page per kind (/structures/N once), from the role's home;
see tests/browser/audit.py. bin/ui_audit.py runs the same crawl against a running instance.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.platform.extensions import db
from tests.browser.audit import (
    assert_accessible,
    assert_no_horizontal_scroll,
    axe_violations,
    crawl,
    heading_problems,
    layout,
)
from tests.conftest import PASSWORD

WIDTHS = (1280, 768)
MAX_PAGES = 45


@pytest.fixture
def demo(app):
    """The demo seed (what a first run shows), its users given the tests' password, its events processed."""
    from crm.accounts.models import User
    from crm.seed import run_seed
    from workflows.dispatch import process_pending

    run_seed("demo", echo=lambda *a, **k: None)
    users = list(db.session.scalars(select(User).order_by(User.id)))
    for user in users:
        user.set_password(PASSWORD)
    db.session.commit()
    process_pending()
    return {
        role: next(u for u in users if u.role == role) for role in ("admin", "manager", "organisateur", "animateur")
    }


def _log_in(page, live_server, user):
    page.goto(f"{live_server}/connexion")
    page.get_by_label("Adresse e-mail").fill(user.email)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()


@pytest.mark.parametrize("role", ["animateur", "organisateur", "manager", "admin"])
def test_every_page_of_a_role_is_accessible_at_1280_and_768(browser, live_server, demo, role):
    problems, visited = [], {}
    for width in WIDTHS:
        context = browser.new_context(locale="fr-FR", viewport={"width": width, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15000)
        _log_in(page, live_server, demo[role])
        for kind in crawl(page, live_server, "/", MAX_PAGES):
            visited.setdefault(kind, []).append(width)
            for violation in axe_violations(page):
                problems.append(f"{width} px {kind}: {violation}")
            problems.extend(f"{width} px {kind}: {p}" for p in heading_problems(page))
            box = layout(page)
            if box["scroll_width"] > box["width"] + 1 or box["overflowing"]:
                problems.append(
                    f"{width} px {kind}: défilement horizontal {box['scroll_width']} px {box['overflowing']}"
                )
            footer = page.locator("footer#pied-de-page").get_by_role("link", name="Accessibilité")
            if footer.count() != 1:
                problems.append(f"{width} px {kind}: pas de lien « Accessibilité » en pied de page")
        context.close()
    # The crawl reached the role's main pages (a broken link would shrink it silently).
    expected = {"/structures", "/activites", "/evenements", "/accessibilite"}
    assert expected <= set(visited), sorted(visited)
    assert len(visited) >= 12, sorted(visited)
    assert not problems, "\n".join(problems)


def test_public_pages_are_accessible_without_an_account(page, live_server, demo):
    from crm.events.models import Event
    from crm.platform.models import utcnow

    event = db.session.scalars(
        select(Event).where(Event.status == "publie", Event.starts_at > utcnow()).order_by(Event.starts_at)
    ).first()
    assert event is not None, "the demo seed has an upcoming published event"
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for path in ("/connexion", "/accessibilite", f"/e/{event.slug}", "/e/annuler/lien-inconnu"):
            page.goto(live_server + path)
            assert_accessible(page)
            assert_no_horizontal_scroll(page)
            expect_footer = page.locator("footer#pied-de-page").get_by_role("link", name="Accessibilité : non conforme")
            assert expect_footer.count() == 1, path
        # The registration form with its errors shown (submitted empty): still accessible.
        page.goto(f"{live_server}/e/{event.slug}")
        page.locator("form.registration-form").get_by_role("button", name="M'inscrire").click()
        page.wait_for_load_state()
        assert page.locator(".error").count() > 0
        assert_accessible(page)


def test_the_statement_is_in_the_rgaa_form(client):
    body = client.get("/accessibilite").get_data(as_text=True)
    for heading in (
        "Déclaration d'accessibilité",
        "État de conformité",
        "Résultats des tests",
        "Contenus non accessibles",
        "Dérogations pour charge disproportionnée",
        "Pages du site ayant fait l'objet de la vérification",
        "Retour d'information et contact",
        "Voies de recours",
        "Schéma pluriannuel de mise en accessibilité",
        "Plan d'actions 2027",
    ):
        assert heading in body.replace("&#39;", "'"), heading
    assert "non conforme" in body and "Défenseur des droits" in body


def test_the_menu_collapses_under_900_px_and_opens_with_the_keyboard(page, live_server, demo):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 768, "height": 900})
    _log_in(page, live_server, demo["animateur"])
    header = page.locator("header.topbar")
    assert header.bounding_box()["height"] < 90
    nav = page.get_by_role("navigation", name="Navigation principale")
    expect(nav).to_be_hidden()
    toggle = page.get_by_role("button", name="Menu")
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="Activités")).to_be_visible()
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")
    expect(nav).to_be_hidden()
    expect(toggle).to_be_focused()
    # Wide: no toggle, the menu is in the header.
    page.set_viewport_size({"width": 1280, "height": 900})
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(nav.get_by_role("link", name="Activités")).to_be_visible()
