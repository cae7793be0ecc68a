"""API structures and contacts: search, read, create, partial update, locking, duplicates, roles."""

import pytest
from sqlalchemy import select

from crm.platform.extensions import db
from crm.platform.models import OutboxEvent
from crm.structures.contacts import erase_contact, save_contact
from crm.structures.models import Structure

ALL_ROLES = ("animateur", "organisateur", "manager", "admin")
FINESS = "310780259"  # a valid FINESS number (Luhn)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_role_lists_and_reads_structures(api_as, own_and_other, role):
    api = api_as(role, ["31"] if role == "animateur" else [])
    own, other = own_and_other
    page = api.get("/api/v1/structures?per_page=1").get_json()
    assert page["meta"] == {"page": 1, "per_page": 1, "total": 2, "pages": 2, "total_capped": False}
    assert page["links"]["prev"] is None and "page=2" in page["links"]["next"]
    assert page["data"][0]["name"] == "CH de Béziers"  # sorted by name
    second = api.get(page["links"]["next"]).get_json()
    assert [s["id"] for s in second["data"]] == [own.id] and second["links"]["next"] is None
    body = api.get(f"/api/v1/structures/{other.id}").get_json()
    assert body["department_code"] == "34" and body["url"] == f"/api/v1/structures/{other.id}"
    assert body["created_at"].endswith("+00:00")


def test_search_and_filters(animator_api, make_structure):
    make_structure(name="EHPAD Saint-Jacques", department_code="31", commune="Muret")
    make_structure(name="Centre hospitalier d'Albi", department_code="81", commune="Albi")
    make_structure(name="EHPAD fermé", department_code="81", is_open=False)
    names = lambda url: [s["name"] for s in animator_api.get(url).get_json()["data"]]  # noqa: E731
    assert names("/api/v1/structures?q=ehpad") == ["EHPAD Saint-Jacques"]
    assert sorted(names("/api/v1/structures?q=ehpad&status=toutes")) == ["EHPAD Saint-Jacques", "EHPAD fermé"]
    assert names("/api/v1/structures?status=fermees") == ["EHPAD fermé"]
    assert names("/api/v1/structures?department=81") == ["Centre hospitalier d'Albi"]
    assert names("/api/v1/structures?q=saint%20jacques&department=31&sort=commune") == ["EHPAD Saint-Jacques"]


def test_animator_creates_in_own_department(animator_api):
    response = animator_api.post(
        "/api/v1/structures",
        {
            "name": "MSP du Comminges",
            "department_code": "31",
            "finess_et": FINESS,
            "commune": "Saint-Gaudens",
            "postal_code": "31800",
            "phone": "05 61 00 00 00",
            "email": "contact@msp.example.org",
        },
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert response.headers["Location"] == body["url"]
    assert (body["name"], body["finess_et"], body["phone"], body["version"]) == (
        "MSP du Comminges",
        FINESS,
        "0561000000",
        1,
    )
    events = db.session.scalars(select(OutboxEvent.type)).all()
    assert "structure.created" in events


def test_duplicate_finess_is_a_conflict_naming_the_existing_structure(animator_api, make_structure):
    existing = make_structure(name="CHU de Toulouse", finess_et=FINESS)
    response = animator_api.post(
        "/api/v1/structures", {"name": "Doublon", "department_code": "31", "finess_et": FINESS}
    )
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["existing"] == {"id": existing.id, "url": f"/api/v1/structures/{existing.id}"}
    assert "finess_et" in error["fields"]
    assert db.session.query(Structure).count() == 1


def test_validation_errors_are_per_field_and_in_french(animator_api):
    response = animator_api.post(
        "/api/v1/structures",
        {
            "name": "",
            "department_code": "31",
            "finess_et": "310780258",
            "postal_code": "3100",
            "email": "pas-une-adresse",
            "website": "ftp://x",
        },
    )
    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]
    assert set(fields) == {"name", "finess_et", "postal_code", "email", "website"}
    assert fields["name"] == "Le nom de la structure est obligatoire."


def test_partial_update_keeps_unspecified_fields(animator_api, make_structure):
    structure = make_structure(
        name="EHPAD Les Tilleuls", commune="Toulouse", postal_code="31000", notes="Accès par la cour"
    )
    response = animator_api.patch(f"/api/v1/structures/{structure.id}", {"phone": "0561000000"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["name"], body["commune"], body["postal_code"], body["notes"], body["phone"]) == (
        "EHPAD Les Tilleuls",
        "Toulouse",
        "31000",
        "Accès par la cour",
        "0561000000",
    )
    assert body["version"] == 2 and body["is_open"] is True
    closed = animator_api.patch(f"/api/v1/structures/{structure.id}", {"is_open": False, "notes": None})
    assert closed.get_json()["is_open"] is False and closed.get_json()["closed_on"] is not None
    assert closed.get_json()["notes"] is None


def test_version_conflict_is_409(animator_api, make_structure):
    structure = make_structure()
    ok = animator_api.patch(f"/api/v1/structures/{structure.id}", {"name": "Nouveau nom", "version": 1})
    assert ok.status_code == 200 and ok.get_json()["version"] == 2
    stale = animator_api.patch(f"/api/v1/structures/{structure.id}", {"name": "Écrasé ?", "version": 1})
    assert stale.status_code == 409 and "modifiée" in stale.get_json()["error"]["message"]
    db.session.expire_all()
    assert db.session.get(Structure, structure.id).name == "Nouveau nom"


@pytest.mark.parametrize(
    "role,own_status,other_status",
    [("animateur", 200, 403), ("admin", 200, 200), ("organisateur", 403, 403), ("manager", 403, 403)],
)
def test_who_may_update(api_as, own_and_other, role, own_status, other_status):
    api = api_as(role, ["31"] if role == "animateur" else [])
    own, other = own_and_other
    assert api.patch(f"/api/v1/structures/{own.id}", {"notes": "vu"}).status_code == own_status
    assert api.patch(f"/api/v1/structures/{other.id}", {"notes": "vu"}).status_code == other_status


@pytest.mark.parametrize(
    "role,own_status,other_status",
    [("animateur", 201, 403), ("admin", 201, 201), ("organisateur", 403, 403), ("manager", 403, 403)],
)
def test_who_may_create(api_as, role, own_status, other_status):
    api = api_as(role, ["31"] if role == "animateur" else [])
    assert api.post("/api/v1/structures", {"name": "A", "department_code": "31"}).status_code == own_status
    assert api.post("/api/v1/structures", {"name": "B", "department_code": "34"}).status_code == other_status


def test_animator_cannot_move_a_structure_out_of_their_departments(animator_api, make_structure):
    structure = make_structure()
    response = animator_api.patch(f"/api/v1/structures/{structure.id}", {"department_code": "34"})
    assert response.status_code == 403 and "department_code" in response.get_json()["error"]["fields"]


def test_changing_category_deduces_the_sector(api_as, make_structure):
    from crm.referential.models import Category

    api = api_as("admin")
    categories = db.session.scalars(select(Category).where(Category.sector_id.is_not(None))).all()
    first, second = categories[0], next(c for c in categories if c.sector_id != categories[0].sector_id)
    structure = make_structure(category_id=first.id)
    body = api.patch(f"/api/v1/structures/{structure.id}", {"category_id": second.id}).get_json()
    assert (body["category_id"], body["sector_id"]) == (second.id, second.sector_id)


def test_unknown_structure_is_404(animator_api):
    assert animator_api.get("/api/v1/structures/999999").status_code == 404
    assert animator_api.patch("/api/v1/structures/999999", {"name": "x"}).status_code == 404
    assert animator_api.get("/api/v1/structures/999999/contacts").status_code == 404


# --- contacts --------------------------------------------------------------------------------------


def test_contacts_create_list_read_update(animator_api, make_structure):
    structure = make_structure()
    created = animator_api.post(
        f"/api/v1/structures/{structure.id}/contacts",
        {
            "civility": "Mme",
            "first_name": "Claire",
            "last_name": "Roux",
            "function": "Directrice",
            "email": "claire.roux@example.org",
            "consent": True,
        },
    )
    assert created.status_code == 201, created.get_json()
    contact = created.get_json()
    assert contact["consent"] is True and contact["consent_at"] and contact["erased"] is False
    listed = animator_api.get(f"/api/v1/structures/{structure.id}/contacts").get_json()
    assert [c["id"] for c in listed["data"]] == [contact["id"]] and listed["meta"]["total"] == 1
    assert animator_api.get(contact["url"]).get_json()["last_name"] == "Roux"
    updated = animator_api.patch(contact["url"], {"function": "Cadre de santé", "consent": False}).get_json()
    assert (updated["first_name"], updated["function"], updated["consent"], updated["consent_at"]) == (
        "Claire",
        "Cadre de santé",
        False,
        None,
    )
    refused = animator_api.patch(contact["url"], {"last_name": None, "email": None})
    assert refused.status_code == 422 and "last_name" in refused.get_json()["error"]["fields"]


def test_erased_contact_is_returned_without_personal_data(animator_api, make_structure):
    structure = make_structure()
    contact = save_contact(
        structure,
        None,
        {"first_name": "Jean", "last_name": "Dupont", "email": "jean.dupont@example.org", "consent": True},
    )
    erase_contact(contact)
    body = animator_api.get(f"/api/v1/contacts/{contact.id}").get_json()
    assert body["erased"] is True and body["erased_at"]
    assert all(body[f] is None for f in ("first_name", "last_name", "email", "phone", "function"))
    listed = animator_api.get(f"/api/v1/structures/{structure.id}/contacts").get_json()["data"]
    assert listed[0]["erased"] is True and listed[0]["last_name"] is None
    assert animator_api.patch(f"/api/v1/contacts/{contact.id}", {"last_name": "Dupont"}).status_code == 409


@pytest.mark.parametrize(
    "role,own_status,other_status",
    [("animateur", 201, 403), ("admin", 201, 201), ("organisateur", 403, 403), ("manager", 403, 403)],
)
def test_who_may_write_contacts(api_as, own_and_other, role, own_status, other_status):
    api = api_as(role, ["31"] if role == "animateur" else [])
    own, other = own_and_other
    assert api.post(f"/api/v1/structures/{own.id}/contacts", {"last_name": "A"}).status_code == own_status
    assert api.post(f"/api/v1/structures/{other.id}/contacts", {"last_name": "B"}).status_code == other_status
    contact = save_contact(other, None, {"last_name": "Martin"})
    assert api.get(f"/api/v1/contacts/{contact.id}").status_code == 200
    patched = api.patch(f"/api/v1/contacts/{contact.id}", {"function": "Médecin"})
    assert patched.status_code == (200 if other_status == 201 else 403)


def test_a_page_beyond_the_offset_limit_asks_for_a_filter(api_as, client, make_user, own_and_other, monkeypatch):
    from crm.platform import paging
    from tests.conftest import login

    monkeypatch.setattr(paging, "MAX_OFFSET", 1)
    api = api_as("manager", [])
    assert api.get("/api/v1/structures?per_page=1&page=2").status_code == 200  # 1 row skipped: served
    deep = api.get("/api/v1/structures?per_page=1&page=3")
    assert deep.status_code == 400 and "affinez les filtres" in deep.get_json()["error"]["fields"]["page"]
    login(client, make_user("animateur", ["31"]))
    html = client.get("/structures?page=99999").get_data(as_text=True)
    assert "affinez les filtres" in html and "2 structures" in html  # and the first page under it
