"""In a real browser, with the keyboard only: an animator lands on "Ma journée", logs an activity (structure
autocomplete, type, date, programmes and offers in the searchable multi-select) and saves it. axe-core runs on
every page visited; the event form's date-time fields are as tall as its text fields; the department selects
offer the other departments on demand."""

import re

from sqlalchemy import select

from crm.activities.models import Activity
from crm.platform.extensions import db
from crm.referential.models import Offer
from tests.browser.audit import assert_accessible
from tests.conftest import PASSWORD


def tab_to(page, selector: str, limit: int = 80, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until the element matching ``selector`` has the focus."""
    for _ in range(limit):
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
    raise AssertionError(f"{selector} never got the focus with the keyboard")


def keyboard_login(page, live_server, user) -> None:
    page.goto(f"{live_server}/connexion")
    tab_to(page, "#email")
    page.keyboard.type(user.email)
    tab_to(page, "#password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_load_state()


def test_animator_logs_an_activity_with_the_keyboard_only(page, width, live_server, make_user, make_structure):
    """The animator's main journey, at 1280 and 768 px (``width``)."""
    animator = make_user("animateur", ["31"])
    structure = make_structure(name="EHPAD Les Tilleuls", commune="Muret")
    grand_age = db.session.scalars(select(Offer).where(Offer.code == "VT_GRAND_AGE")).one()

    keyboard_login(page, live_server, animator)
    page.wait_for_url("**/ma-journee")
    assert page.get_by_role("heading", name="Ma journée").is_visible()
    assert_accessible(page)

    tab_to(page, 'a[href="/activites/nouvelle"]')
    page.keyboard.press("Enter")
    page.wait_for_url("**/activites/nouvelle")
    assert_accessible(page)

    # The structure: the search field has the focus; type, arrow down, Enter makes a chip.
    tab_to(page, "#structure-search")
    page.keyboard.type("Tilleul")
    page.wait_for_selector("#structure-search-suggestions [role=option]")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_selector("#structure-chips .chip")
    assert "EHPAD Les Tilleuls" in page.locator("#structure-chips").inner_text()

    # The type, by typing its first letters on the focused native select.
    tab_to(page, "#kind")
    page.keyboard.type("Réu")
    assert page.eval_on_selector("#kind", "s => s.value") == "reunion"
    tab_to(page, "#occurred_on")
    page.keyboard.type("11112026")  # day = month: the same in either field order
    assert page.eval_on_selector("#occurred_on", "i => i.value") == "2026-11-11"

    # Programmes: the combobox filters as one types; Enter chooses; Escape closes the list.
    tab_to(page, "#programme_ids-search")
    assert page.get_attribute("#programme_ids-search", "role") == "combobox"
    page.keyboard.type("orient")
    assert page.get_attribute("#programme_ids-search", "aria-expanded") == "true"
    assert page.locator("#programme_ids-listbox [role=option]").count() == 1
    page.keyboard.press("Enter")
    assert page.get_attribute("#programme_ids-listbox [role=option]", "aria-selected") == "true"
    page.keyboard.press("Escape")
    assert page.get_attribute("#programme_ids-search", "aria-expanded") == "false"
    assert "Orientation" in page.locator(".multiselect:has(#programme_ids) .chips").inner_text()
    assert "1 choix" in page.locator("#programme_ids-count").inner_text()

    # Offers: arrows move in the filtered list (grouped by programme).
    tab_to(page, "#offer_ids-search")
    page.keyboard.type("grand")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    chosen = page.eval_on_selector_all("#offer_ids option:checked", "os => os.map(o => o.value)")
    assert chosen == [str(grand_age.id)]
    assert_accessible(page)

    # A chip's remove button is reachable by keyboard too; remove then choose again.
    tab_to(page, ".multiselect:has(#offer_ids) .chip-remove")
    page.keyboard.press("Enter")
    assert page.eval_on_selector_all("#offer_ids option:checked", "os => os.length") == 0
    tab_to(page, "#offer_ids-search", backwards=True)
    page.keyboard.type("grand")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")

    tab_to(page, "#subject")
    page.keyboard.type("Présentation de ViaTrajectoire")
    tab_to(page, "button.primary[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert not page.locator(".error-summary").count(), page.locator(".error-summary").inner_text()
    page.wait_for_url(re.compile(r"/(activites|structures)/\d+"))  # saved: back to the structure
    assert_accessible(page)

    db.session.expire_all()
    activity = db.session.scalars(select(Activity)).one()
    assert activity.kind == "reunion" and activity.occurred_on.isoformat() == "2026-11-11"
    assert [s.id for s in activity.structures] == [structure.id]
    assert [p.code for p in activity.programmes] == ["ORIENTATION"]
    assert [o.id for o in activity.offers] == [grand_age.id]
    assert activity.author_id == animator.id


def test_event_form_controls_share_one_height_and_departments_open_on_demand(page, live_server, make_user):
    organiser = make_user("organisateur")
    keyboard_login(page, live_server, organiser)
    page.wait_for_url("**/evenements**")
    assert_accessible(page)
    page.goto(f"{live_server}/evenements/nouveau")
    heights = page.evaluate(
        """() => ['#title', '#starts_at', '#ends_at', '#registration_opens_at', '#capacity', '#type_id']
            .map(s => Math.round(document.querySelector(s).getBoundingClientRect().height))"""
    )
    assert len(set(heights)) == 1 and heights[0] >= 44, heights
    # Only the region's departments until asked; the button brings the others back.
    codes = page.eval_on_selector_all("#department_code option", "os => os.map(o => o.value)")
    assert "31" in codes and "75" not in codes
    tab_to(page, ".more-departments")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "department_code"
    assert "75" in page.eval_on_selector_all("#department_code option", "os => os.map(o => o.value)")
    assert page.locator("#programme_ids-search").is_visible() and page.locator("#programme_ids").is_hidden()
    assert_accessible(page)


def test_public_registration_form_is_accessible(browser, page, live_server, make_user):
    from datetime import timedelta

    from crm.events import services
    from crm.events.models import EventType
    from crm.platform.models import utcnow

    organiser = make_user("organisateur")
    event_type = db.session.scalars(select(EventType).where(EventType.code == "top_esante")).one()
    start = utcnow().replace(microsecond=0) + timedelta(days=10)
    event = services.create_event(
        {
            "type_id": event_type.id,
            "title": "TOP e-santé Gers",
            "starts_at": start,
            "ends_at": start + timedelta(hours=3),
            "place_name": "Salle des fêtes",
            "address": "Auch",
            "department_code": "32",
        },
        user=organiser,
    )
    services.change_status(event, "publie", user=organiser)
    page.goto(f"{live_server}/e/{event.slug}")
    assert "75" not in page.eval_on_selector_all("#department_code option", "os => os.map(o => o.value)")
    assert_accessible(page)
    # Sent empty: the summary of errors links to the fields, and stays accessible.
    page.get_by_role("button", name="M'inscrire").click()
    page.wait_for_selector(".error-summary")
    assert page.locator(".error-summary a").count() >= 3
    assert_accessible(page)
