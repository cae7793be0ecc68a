"""In a real browser: an animator notes, from an event's page, an opportunity that came from it; the event
field follows the origin; the event's page then lists it among what the event produced."""

from sqlalchemy import select

from crm.pipeline.models import Opportunity
from crm.platform.extensions import db
from crm.referential.models import Offer
from tests.browser.test_pipeline_browser import log_in
from tests.events.factories import add_registration, make_event


def test_noting_an_opportunity_from_an_event(page, live_server, make_user, make_structure):
    animator = make_user("animateur", ["31"])
    structure = make_structure(name="EHPAD L'Oustal", commune="Saint-Gaudens")
    event = make_event(title="TOP e-santé Haute-Garonne", days_ago=3)
    add_registration(event, "direction@oustal.fr", status="present", structure=structure)
    log_in(page, live_server, animator)

    page.goto(f"{live_server}/evenements/{event.id}")
    assert page.locator('[data-produced="opportunities"]').inner_text() == "0"
    page.get_by_role("link", name="Noter une opportunité issue de l'événement").click()
    page.wait_for_url(f"**/opportunites/nouvelle?event_id={event.id}")
    chosen = page.get_by_label("Événement concerné")
    assert page.get_by_label("Origine", exact=True).input_value() == "evenement"
    assert chosen.is_visible() and chosen.input_value() == str(event.id)
    page.get_by_label("Origine", exact=True).select_option("visite")
    assert not chosen.is_visible()  # only asked when the origin is an event
    page.get_by_label("Origine", exact=True).select_option("evenement")
    assert chosen.is_visible() and chosen.input_value() == str(event.id)

    page.get_by_label("Structure").fill("Oustal")
    page.get_by_role("option", name="EHPAD L'Oustal").first.click()
    offer = db.session.scalars(select(Offer).where(Offer.code == "VT_GRAND_AGE")).one()
    page.get_by_label("Offre").select_option(str(offer.id))
    page.get_by_label("Titre").fill("ViaTrajectoire grand âge")
    page.get_by_role("button", name="Créer l'opportunité").click()
    page.wait_for_url("**/opportunites/*")
    opportunity = db.session.scalars(select(Opportunity)).one()
    assert opportunity.source_event_id == event.id

    page.get_by_role("link", name="TOP e-santé Haute-Garonne").click()
    page.wait_for_url(f"**/evenements/{event.id}*")
    section = page.locator("[data-attribution]")
    assert section.locator('[data-produced="named"]').inner_text() == "1"
    assert section.get_by_role("link", name="ViaTrajectoire grand âge").is_visible()
