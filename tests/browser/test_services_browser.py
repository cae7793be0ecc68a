"""In a real browser, at 1280 and 768 px: the services' new pages pass axe-core and do not scroll sideways
(the structure's "Services numériques" section and its form, the services view with its map, the targeting
list, the usage import page and its preview), and an animator sets a status with the keyboard."""

from __future__ import annotations

from sqlalchemy import select

from crm.deployment import services
from crm.deployment.runs import start_preview
from crm.deployment.usage import import_usage
from crm.platform.extensions import db
from crm.referential.models import Category, Offer
from tests.browser.audit import assert_accessible, assert_no_horizontal_scroll
from tests.browser.test_dashboard_browser import log_in
from workflows.dispatch import process_pending


class Upload:
    filename = "stats-mssante.csv"

    def __init__(self, data: bytes):
        self.data = data

    def read(self):
        return self.data


def _scenario(make_user, make_structure):
    ehpad = db.session.scalars(select(Category).where(Category.code == "EHPAD")).one()
    mss = db.session.scalars(select(Offer).where(Offer.code == "MSSANTE")).one()
    kw = {"category_id": ehpad.id, "sector_id": ehpad.sector_id}
    a = make_structure(name="EHPAD Les Tilleuls", finess_et="310000005", **kw)
    make_structure(name="EHPAD Les Acacias", **kw)
    services.set_status(a, mss.id, "deploye", source="manuel")
    db.session.commit()
    import_usage(b"finess;mois;valeur\n310000005;2026-10;4\n310000005;2026-11;6\n", mss, source="mss.csv")
    process_pending()
    return a, mss


def _check(page):
    assert_accessible(page)
    for width in (1280, 768):
        page.set_viewport_size({"width": width, "height": 900})
        assert_no_horizontal_scroll(page)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_services_pages_are_accessible_and_a_status_is_set_with_the_keyboard(
    page, live_server, make_user, make_structure
):
    from playwright.sync_api import expect

    structure, mss = _scenario(make_user, make_structure)
    animator = make_user("animateur", ["31"])
    log_in(page, live_server, animator)
    page.goto(f"{live_server}/structures/{structure.id}")
    expect(page.get_by_role("heading", name="Services numériques")).to_be_visible()
    _check(page)
    page.get_by_label("Service", exact=True).select_option(label="SPICO Dossiers")
    page.get_by_label("Statut", exact=True).select_option(label="En projet")
    page.get_by_role("button", name="Enregistrer le statut").focus()
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    expect(page.locator(".flash-success")).to_contain_text("Statut du service enregistré")
    expect(page.locator("#services")).to_contain_text("SPICO Dossiers")
    _check(page)

    page.goto(f"{live_server}/tableau-de-bord/services?offre=MSSANTE")
    expect(page.get_by_role("heading", level=1)).to_contain_text("MSSanté")
    _check(page)
    page.goto(f"{live_server}/tableau-de-bord/services/cibles?offre=MSSANTE&departement=31")
    expect(page.locator("table")).to_contain_text("EHPAD Les Acacias")
    _check(page)
    page.goto(f"{live_server}/structures?non_equipees=MSSANTE")
    _check(page)


def test_usage_import_pages_are_accessible(page, live_server, make_user, make_structure):
    from playwright.sync_api import expect

    _structure, mss = _scenario(make_user, make_structure)
    admin = make_user("admin")
    run = start_preview(
        Upload(b"finess;mois;valeur\n310000005;2026-12;7\n999999998;2026-12;1\n"), mss, None, user_id=admin.id
    )
    log_in(page, live_server, admin)
    page.goto(f"{live_server}/admin/usages")
    expect(page.get_by_role("heading", level=1)).to_have_text("Import d'usage des services")
    _check(page)
    page.goto(f"{live_server}/admin/usages/{run.id}")
    expect(page.get_by_role("heading", name="Lignes rejetées")).to_be_visible()
    _check(page)
    page.goto(f"{live_server}/admin/usages/offres")
    _check(page)
    page.goto(f"{live_server}/admin/usages/offres/{mss.id}")
    expect(page.get_by_label("Indicateur d'usage")).to_be_visible()
    _check(page)
