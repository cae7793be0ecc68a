"""Structure and contact changes: validation, audit and outbox in the same transaction, RGPD erasure."""

import pytest
from sqlalchemy import select

from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent
from crm.structures import contacts as contact_services
from crm.structures import services
from crm.structures.identifiers import luhn_check_digit
from crm.structures.models import Contact, Structure
from tests.conftest import login, post


def finess(partial):
    return partial + luhn_check_digit(partial)


def counts():
    return (
        db.session.query(Structure).count(),
        db.session.query(AuditEntry).count(),
        db.session.query(OutboxEvent).count(),
    )


def test_create_writes_audit_and_event(make_user, make_structure):
    structure = make_structure(name="EHPAD Les Tilleuls", finess_et=finess("31000001"))
    audit = db.session.scalars(select(AuditEntry).where(AuditEntry.entity_id == structure.id)).one()
    event = db.session.scalars(select(OutboxEvent)).one()
    assert audit.action == "create" and audit.changes["name"] == [None, "EHPAD Les Tilleuls"]
    assert event.type == "structure.created" and event.processed_at is None
    assert event.payload["department"] == "31" and event.payload["structure_id"] == structure.id


def test_validation_errors_are_french_and_write_nothing():
    with pytest.raises(services.ValidationFailed) as error:
        services.create_structure(
            {
                "name": "",
                "department_code": "00",
                "finess_et": "310000012",
                "siret": "123",
                "email": "pas-un-email",
                "postal_code": "3100",
                "website": "javascript:alert(1)",
            }
        )
    errors = error.value.errors
    assert errors["name"] == "Le nom de la structure est obligatoire."
    assert "Département inconnu" in errors["department_code"]
    assert "clé de contrôle" in errors["finess_et"]
    assert "14 chiffres" in errors["siret"]
    assert errors["email"].startswith("Adresse e-mail invalide")
    assert "5 chiffres" in errors["postal_code"]
    assert "http" in errors["website"]
    assert counts() == (0, 0, 0)


def test_duplicate_finess_is_refused_with_a_link(client, make_user, make_structure):
    number = finess("31000002")
    existing = make_structure(name="CH de Saint-Gaudens", finess_et=number)
    login(client, make_user("animateur", ["31"]))
    response = post(client, "/structures/nouvelle", {"name": "Doublon", "department_code": "31", "finess_et": number})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Une structure porte déjà ce numéro FINESS." in html
    assert f'href="/structures/{existing.id}"' in html
    assert db.session.query(Structure).count() == 1


def test_failed_change_leaves_neither_audit_nor_event(make_structure, monkeypatch):
    """A FINESS taken by a concurrent transaction after validation: the insert fails, nothing is left."""
    number = finess("31000003")
    make_structure(name="Première", finess_et="")
    before = counts()
    real_clean = services.clean_structure_data

    def clean_then_race(data, current=None):
        values = real_clean(data, current)
        # Another session commits the same FINESS between validation and insert.
        with db.engine.begin() as conn:
            conn.execute(
                Structure.__table__.insert().values(
                    name="Concurrente",
                    finess_et=number,
                    department_code="31",
                    search_text="concurrente",
                    manual_fields=[],
                    source="manuel",
                    is_open=True,
                    version=1,
                )
            )
        return values

    monkeypatch.setattr(services, "clean_structure_data", clean_then_race)
    with pytest.raises(services.ValidationFailed) as error:
        services.create_structure({"name": "Seconde", "department_code": "31", "finess_et": number})
    assert error.value.existing is not None and error.value.existing.name == "Concurrente"
    structures, audits, events = counts()
    assert (audits, events) == before[1:]  # the concurrent raw insert wrote no audit: nothing from us
    assert structures == before[0] + 1
    assert db.session.query(Structure).filter_by(name="Seconde").count() == 0


def test_update_records_only_what_changed(make_structure):
    structure = make_structure(name="EHPAD A", commune="Albi", department_code="81")
    services.update_structure(
        structure,
        {"name": "EHPAD A", "commune": "Castres", "department_code": "81", "is_open": True},
        expected_version=structure.version,
    )
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "update")).one()
    assert entry.changes == {"commune": ["Albi", "Castres"]}
    assert db.session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.id)).all() == [
        "structure.created",
        "structure.updated",
    ]
    # No change at all: no audit, no event.
    services.update_structure(
        structure, {"name": "EHPAD A", "commune": "Castres", "department_code": "81", "is_open": True}
    )
    assert db.session.query(OutboxEvent).count() == 2


def test_closing_emits_structure_closed(make_structure):
    structure = make_structure(name="SSIAD X")
    services.update_structure(structure, {"name": "SSIAD X", "department_code": "31", "is_open": False})
    assert structure.closed_on is not None
    assert db.session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.id.desc())).first() == "structure.closed"


def test_stale_form_is_refused_instead_of_overwriting(client, make_user, make_structure):
    structure = make_structure(name="Version 1")
    login(client, make_user("animateur", ["31"]))
    stale_version = structure.version
    services.update_structure(structure, {"name": "Version 2", "department_code": "31", "is_open": True})
    response = post(
        client,
        f"/structures/{structure.id}/modifier",
        {"name": "Version 3", "department_code": "31", "version": stale_version, "is_open": "y"},
    )
    assert response.status_code == 422
    assert "modifiée par quelqu&#39;un d&#39;autre" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Structure, structure.id).name == "Version 2"


def test_hand_edit_of_a_finess_field_is_remembered(make_structure):
    structure = make_structure(name="EHPAD importé", finess_et=finess("31000004"))
    structure.source = "finess"
    db.session.commit()
    services.update_structure(
        structure,
        {
            "name": "EHPAD renommé",
            "department_code": "31",
            "is_open": True,
            "commune": "Toulouse",
            "finess_et": structure.finess_et,
            "notes": "RAS",
        },
    )
    assert structure.manual_fields == ["name"]


def test_edit_page_shows_audit_with_author(client, make_user, make_structure):
    structure = make_structure(name="MSP Avant")
    user = make_user("animateur", ["31"])
    login(client, user)
    response = post(
        client,
        f"/structures/{structure.id}/modifier",
        {"name": "MSP Après", "department_code": "31", "version": structure.version, "is_open": "y"},
    )
    assert response.status_code == 302
    html = client.get(f"/structures/{structure.id}").get_data(as_text=True)
    assert "MSP Avant → MSP Après" in html and user.display_name in html
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "update")).one()
    assert entry.user_id == user.id


def test_html_in_names_is_escaped(client, make_user, make_structure):
    structure = make_structure(name="<script>alert(1)</script>")
    login(client, make_user("manager"))
    html = client.get(f"/structures/{structure.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_unknown_structure_is_a_french_404(client, make_user):
    login(client, make_user("manager"))
    response = client.get("/structures/999999")
    assert response.status_code == 404 and "Page introuvable" in response.get_data(as_text=True)


# --- contacts ------------------------------------------------------------------------------------


def test_contact_consent_is_dated(make_structure):
    structure = make_structure()
    contact = contact_services.save_contact(
        structure, None, {"first_name": "Anne", "last_name": "Roux", "email": "Anne.Roux@Example.org", "consent": True}
    )
    assert contact.consent_at is not None and contact.email == "Anne.Roux@example.org"
    contact_services.save_contact(structure, contact, {"last_name": "Roux", "consent": False})
    assert contact.consent_at is None


def test_contact_validation(client, make_user, make_structure):
    structure = make_structure()
    login(client, make_user("animateur", ["31"]))
    response = post(
        client, f"/structures/{structure.id}/contacts/nouveau", {"first_name": "Jean", "email": "jean@", "phone": "abc"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Adresse e-mail invalide" in html and "Numéro de téléphone invalide." in html
    assert db.session.query(Contact).count() == 0


def test_contact_of_another_structure_is_not_reachable(client, make_user, make_structure):
    first, second = make_structure(name="A"), make_structure(name="B")
    contact = contact_services.save_contact(first, None, {"last_name": "Roux"})
    login(client, make_user("animateur", ["31"]))
    assert client.get(f"/structures/{second.id}/contacts/{contact.id}/modifier").status_code == 404


def test_rgpd_erasure_keeps_the_row_and_scrubs_history(client, make_user, make_structure):
    structure = make_structure()
    contact = contact_services.save_contact(
        structure, None, {"first_name": "Anne", "last_name": "Roux", "email": "anne.roux@example.org", "consent": True}
    )
    contact_services.save_contact(
        structure, contact, {"first_name": "Anne", "last_name": "Roux-Martin", "email": "anne.roux@example.org"}
    )
    login(client, make_user("animateur", ["31"]))
    assert post(client, f"/structures/{structure.id}/contacts/{contact.id}/effacer").status_code == 302
    db.session.expire_all()
    erased = db.session.get(Contact, contact.id)
    assert erased is not None and erased.erased_at is not None
    assert (erased.first_name, erased.last_name, erased.email, erased.consent) == (None, None, None, False)
    assert db.session.query(Contact).filter_by(structure_id=structure.id).count() == 1  # counts intact
    history = db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity_type == "contact").order_by(AuditEntry.id)
    ).all()
    assert all("Roux" not in str(entry.changes) and "anne" not in str(entry.changes) for entry in history)
    events = db.session.scalars(select(OutboxEvent).where(OutboxEvent.aggregate_type == "contact")).all()
    assert "contact.erased" in [e.type for e in events]
    assert all("Roux" not in str(e.payload) for e in events)
    html = client.get(f"/structures/{structure.id}").get_data(as_text=True)
    assert "Contact effacé (RGPD)" in html and "Roux" not in html
    assert client.get(f"/structures/{structure.id}/contacts/{contact.id}/modifier").status_code == 404


def test_delete_contact(client, make_user, make_structure):
    structure = make_structure()
    contact = contact_services.save_contact(structure, None, {"last_name": "Roux"})
    login(client, make_user("animateur", ["31"]))
    assert post(client, f"/structures/{structure.id}/contacts/{contact.id}/supprimer").status_code == 302
    assert db.session.query(Contact).count() == 0
    assert db.session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.id.desc())).first() == "contact.deleted"


def test_history_reads_in_french_with_labels(client, make_user, make_structure):
    from crm.referential.models import Category

    ehpad = db.session.scalars(select(Category).where(Category.code == "EHPAD")).one()
    structure = make_structure(name="EHPAD Lumière", category_id=ehpad.id)
    login(client, make_user("manager"))
    html = client.get(f"/structures/{structure.id}").get_data(as_text=True)
    assert "Catégorie : EHPAD" in html and "Secteur : Médico-social (ESMS)" in html
    assert "category_id" not in html and "∅" not in html


def test_contact_changes_appear_in_the_structure_history(client, make_user, make_structure):
    structure = make_structure()
    contact = contact_services.save_contact(structure, None, {"last_name": "Roux", "function": "Directrice"})
    contact_services.save_contact(structure, contact, {"last_name": "Roux", "function": "DSI"})
    login(client, make_user("manager"))
    html = client.get(f"/structures/{structure.id}").get_data(as_text=True)
    assert "Contact créé par" in html and "Fonction : Directrice → DSI" in html


def test_deleting_a_contact_keeps_history_without_personal_data(client, make_user, make_structure):
    structure = make_structure()
    contact = contact_services.save_contact(
        structure,
        None,
        {"first_name": "Anne", "last_name": "Roux", "email": "anne.roux@example.org", "function": "Directrice"},
    )
    contact_services.delete_contact(contact)
    history = db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity_type == "contact").order_by(AuditEntry.id)
    ).all()
    assert [e.action for e in history] == ["create", "delete"]
    assert all("Roux" not in str(e.changes) and "anne" not in str(e.changes) for e in history)
    login(client, make_user("manager"))
    html = client.get(f"/structures/{structure.id}").get_data(as_text=True)
    assert "Contact supprimé par" in html and "Contact créé par" in html
    assert "Roux" not in html


def test_unreadable_version_is_a_stale_form_not_a_server_error(client, make_user, make_structure):
    structure = make_structure(name="Version 1")
    login(client, make_user("animateur", ["31"]))
    response = post(
        client,
        f"/structures/{structure.id}/modifier",
        {"name": "Version ²", "department_code": "31", "version": "²", "is_open": "y"},
    )
    assert response.status_code in (302, 422)
    db.session.expire_all()
    saved = db.session.get(Structure, structure.id)
    assert (response.status_code == 302) == (saved.name == "Version ²")


def test_department_filter_is_case_insensitive(client, make_user, make_structure):
    make_structure(name="Hôpital d'Ajaccio", department_code="2A")
    login(client, make_user("animateur", ["31"]))
    assert "Hôpital d&#39;Ajaccio" in client.get("/structures?departement=2a&statut=toutes").get_data(as_text=True)
