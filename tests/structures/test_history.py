"""The change history as people tell it: a creation in one line, then the fields each edit changed
(crm.platform.history, the one renderer, with the structures' words)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

from sqlalchemy import select

from crm.platform.extensions import db
from crm.platform.history import Subject, Vocabulary, describe, history_lines
from crm.platform.models import AuditEntry
from crm.referential.models import Category
from crm.structures import contacts as contact_services
from crm.structures import services
from crm.structures.history import structure_history
from tests.conftest import login, post


def _category(code):
    return db.session.scalars(select(Category).where(Category.code == code)).one()


def _history_text(client, structure_id) -> str:
    html = unescape(client.get(f"/structures/{structure_id}").get_data(as_text=True))
    part = html[html.index('id="historique"') :]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part))


def test_a_creation_is_one_line_with_who_and_when_then_edits_show_their_fields(client, make_user, make_structure):
    user = make_user("manager")
    login(client, user)
    ehpad = _category("EHPAD")
    structure = make_structure(name="EHPAD Lumière", category_id=ehpad.id, phone="", email="")
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity_type == "structure", AuditEntry.entity_id == structure.id)
    ).one()
    entry.at = datetime(2026, 1, 7, 9, 32, tzinfo=UTC)  # before the edit below (now)
    entry.user_id = user.id
    db.session.commit()
    lines = structure_history(structure.id)
    assert len(lines) == 1
    assert lines[0].headline == f"Créée par {user.display_name} le 7\u00a0janv. 2026 à 10:32"
    assert not lines[0].changes
    summary = [(c.label, c.after) for c in lines[0].summary]
    assert summary[:3] == [("Nom", "EHPAD Lumière"), ("Catégorie", "EHPAD"), ("Secteur", "Médico-social (ESMS)")]
    assert all(c.after for c in lines[0].summary)  # no line per empty field

    services.update_structure(structure, {**_form(structure), "phone": "05 61 00 00 00", "commune": "Muret"})
    lines = structure_history(structure.id)
    assert len(lines) == 2 and lines[0].headline.startswith("Modifiée par ")
    assert {(c.label, c.before, c.after) for c in lines[0].changes} == {
        ("Téléphone", "", structure.phone),
        ("Commune", "Toulouse", "Muret"),
    }
    text = _history_text(client, structure.id)
    assert "Créée par" in text and "Modifiée par" in text
    assert "Commune : Toulouse → Muret" in text and f"Téléphone : (vide) → {structure.phone}" in text
    assert "∅" not in text and text.count("Créée par") == 1


def _form(structure) -> dict:
    return {field: getattr(structure, field) for field in services.STRUCTURE_FIELDS}


def test_contacts_creation_edit_and_erasure_in_the_structure_history(client, make_user, make_structure):
    structure = make_structure()
    contact = contact_services.save_contact(structure, None, {"first_name": "Anne", "last_name": "Roux"})
    contact_services.save_contact(structure, contact, {"first_name": "Anne", "last_name": "Roux", "function": "DSI"})
    login(client, make_user("animateur", ["31"]))
    assert post(client, f"/structures/{structure.id}/contacts/{contact.id}/effacer").status_code == 302
    lines = structure_history(structure.id)
    assert [line.action for line in lines] == ["erase", "update", "create", "create"]
    assert lines[0].headline.startswith("Contact effacé (RGPD) par ") and not lines[0].changes
    assert lines[-1].headline.startswith("Créée par")  # the structure itself, without its noun
    assert lines[2].headline.startswith("Contact créé par")
    assert [(c.label, c.kind) for c in lines[1].changes] == [("Fonction", "erased")]
    text = _history_text(client, structure.id)
    assert "Roux" not in text and "Anne" not in text and "Fonction : modifié (donnée effacée depuis)" in text


def test_a_deletion_is_one_line_and_a_system_change_names_its_origin():
    entry = AuditEntry(
        at=datetime(2026, 1, 5, 23, 30, tzinfo=UTC),  # 6 January in Paris
        entity_type="opportunity",
        entity_id=1,
        action="delete",
        changes={"title": ["Visio", None], "stage": ["qualifiee", None]},
        origin="import FINESS",
    )
    words = Vocabulary(subjects={"opportunity": Subject("opportunité", feminine=True)}, labels={"title": "Titre"})
    line = describe(entry, words)
    assert line.headline == "Opportunité supprimée par import FINESS le 6\u00a0janv. 2026 à 00:30"
    assert not line.changes and not line.summary


def test_a_long_creation_names_its_first_values_and_counts_the_rest_and_empty_edits_are_dropped():
    values = {f"f{i}": [None, f"v{i}"] for i in range(10)}
    values["empty"] = [None, ""]
    create = AuditEntry(at=datetime(2026, 3, 1, tzinfo=UTC), entity_type="project", entity_id=1, action="create")
    create.changes = values
    noop = AuditEntry(at=datetime(2026, 3, 2, tzinfo=UTC), entity_type="project", entity_id=1, action="update")
    noop.changes = {"notes": [None, ""], "opened_on": ["2026-03-01", "2026-03-01"]}
    dated = AuditEntry(at=datetime(2026, 3, 3, tzinfo=UTC), entity_type="project", entity_id=1, action="update")
    dated.changes = {"opened_on": ["2026-03-01", "2026-04-15"], "open": [True, False]}
    words = Vocabulary(subjects={"project": Subject("projet")}, labels={"opened_on": "Ouverture", "open": "Ouvert"})
    lines = history_lines([dated, noop, create], words)
    assert [line.action for line in lines] == ["update", "create"]
    assert [(c.label, c.before, c.after) for c in lines[0].changes] == [
        ("Ouverture", "1\u00a0mars 2026", "15\u00a0avr. 2026"),
        ("Ouvert", "oui", "non"),
    ]
    assert lines[1].headline.startswith("Projet créé par le système le 1\u00a0mars 2026")
    assert len(lines[1].summary) == 6 and lines[1].more == 4
