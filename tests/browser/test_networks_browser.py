"""In a real browser, on the demo data (issue 14): every networks page, and the structure page's "Réseaux"
section, pass axe-core and do not scroll sideways at 768 px; an animator names a référent from the
structure page."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.events.models import Event
from crm.networks.models import Grappe, StructureLink
from crm.platform.extensions import db
from tests.browser.audit import assert_accessible, assert_no_horizontal_scroll
from tests.browser.test_accessibility_browser import _log_in, demo  # noqa: F401  (demo is a fixture)


@pytest.mark.parametrize("role", ["admin", "manager"])
def test_networks_pages_are_accessible_at_1280_and_768(browser, live_server, demo, role):  # noqa: F811
    grappe = db.session.scalar(select(Grappe).order_by(Grappe.id))
    link = db.session.scalar(select(StructureLink).order_by(StructureLink.id))
    event_id = db.session.scalar(select(Event.id).where(Event.status == "publie").order_by(Event.starts_at.desc()))
    paths = [
        "/reseaux/referents",
        "/reseaux/grappes",
        f"/reseaux/grappes/{grappe.id}",
        "/reseaux/maillage",
        f"/structures/{link.structure_b_id}",
    ]
    if role == "admin":
        paths += ["/reseaux/grappes/nouvelle", f"/reseaux/grappes/{grappe.id}/modifier"]
        paths.append(f"/reseaux/evenements/{event_id}/inviter-referents")
    for width in (1280, 768):
        context = browser.new_context(locale="fr-FR", viewport={"width": width, "height": 900})
        page = context.new_page()
        _log_in(page, live_server, demo[role])
        for path in paths:
            page.goto(f"{live_server}{path}")
            assert page.locator("h1").count() == 1, path
            assert_accessible(page)
            assert_no_horizontal_scroll(page)
        context.close()


def test_an_animator_names_a_referent_from_the_structure_page(page, live_server, demo):  # noqa: F811
    from playwright.sync_api import expect

    from crm.structures.models import Contact, Structure

    animator = demo["animateur"]
    structure = db.session.scalar(
        select(Structure)
        .join(Contact, Contact.structure_id == Structure.id)
        .where(Structure.department_code.in_(animator.department_codes), Contact.erased_at.is_(None))
        .order_by(Structure.id)
    )
    _log_in(page, live_server, animator)
    page.goto(f"{live_server}/structures/{structure.id}")
    page.get_by_text("Nommer un référent").click()
    page.get_by_label("Offre", exact=True).select_option(label="SPICO Dossiers")
    page.get_by_role("button", name="Nommer", exact=True).click()
    expect(page.locator(".flash-success")).to_contain_text("Référent enregistré")
    expect(page.locator("#reseaux")).to_contain_text("référent SPICO Dossiers")
    assert_accessible(page)
