"""The networks' read endpoints (issue 14), checked against the OpenAPI document by the api clients."""

from __future__ import annotations

from sqlalchemy import select

from crm.deployment.services import set_status
from crm.networks import services
from crm.networks.models import StructureLinkType
from crm.platform.extensions import db
from crm.structures.contacts import save_contact


def test_networks_endpoints_answer_every_role(api_as, make_user, make_structure, offer):
    animator = make_user("animateur", ["31"])
    user_structure, partner = make_structure(name="DAC"), make_structure(name="EHPAD partenaire")
    set_status(user_structure, offer.id, "en_production", source="manuel")  # the DAC uses the offer
    db.session.commit()
    link_type = db.session.scalar(select(StructureLinkType).where(StructureLinkType.code == "partenaire_dac"))
    services.add_link(
        {"structure_a_id": partner.id, "structure_b_id": user_structure.id, "type_id": link_type.id}, user=animator
    )
    contact = save_contact(partner, None, {"first_name": "A", "last_name": "B", "email": "a@example.org"})
    services.name_referent({"contact_id": contact.id, "offer_id": offer.id}, user=animator)
    services.save_grappe(None, {"name": "G", "lead_structure_id": partner.id}, user=animator)
    api = api_as("manager")
    body = api.get("/api/v1/networks/grappes/attribution?department=31").get_json()
    assert body == {"grappes": 1, "formed_via_rendez_vous": 0, "share": 0.0}
    body = api.get(f"/api/v1/networks/referents?offer={offer.id}").get_json()
    assert [r["contact_id"] for r in body["data"]] == [contact.id] and body["meta"]["total"] == 1
    other = save_contact(user_structure, None, {"first_name": "C", "last_name": "D", "email": "c@example.org"})
    services.name_referent({"contact_id": other.id, "offer_id": offer.id}, user=animator)
    first = api.get(f"/api/v1/networks/referents?offer={offer.id}&per_page=1").get_json()
    second = api.get(first["links"]["next"]).get_json()
    assert first["meta"]["total"] == 2 and second["links"]["next"] is None
    assert {first["data"][0]["contact_id"], second["data"][0]["contact_id"]} == {contact.id, other.id}
    body = api.get(f"/api/v1/networks/mesh?offer={offer.id}&department=31").get_json()
    assert body["meta"]["total"] == 1 and body["meta"]["per_page"] == 50 and body["links"]["next"] is None
    mesh = body["data"]
    assert mesh[0]["users"] == 1
    assert [m["structure_id"] for m in mesh] == [partner.id]
    assert mesh[0]["linked_users"] == [{"structure_id": user_structure.id, "link_type": "Partenaire d'un DAC"}]
    assert api.get("/api/v1/networks/mesh").status_code in (400, 422)
    assert api.get("/api/v1/networks/referents?department=ZZ").status_code == 422
