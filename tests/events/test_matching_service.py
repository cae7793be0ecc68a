"""Matching registrants to contacts and structures: the rules, the audit, the permissions."""

import pytest
from sqlalchemy import select

from crm.events.followup.matching import create_contact, match_event, resolve_structure, unmatched_registrations
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent
from crm.platform.validation import ValidationFailed
from crm.structures.contacts import save_contact
from crm.structures.identifiers import luhn_check_digit
from crm.structures.models import Contact
from tests.events.factories import add_registration, make_event


def finess(partial):
    return partial + luhn_check_digit(partial)


@pytest.fixture
def world(make_structure):
    tilleuls = make_structure(name="EHPAD Les Tilleuls", department_code="31", finess_et=finess("31000123"))
    auch = make_structure(name="Centre hospitalier d'Auch", department_code="32")
    homonym_a = make_structure(name="EHPAD Saint-Jacques", department_code="81")
    homonym_b = make_structure(name="EHPAD Saint Jacques", department_code="81")
    contact = save_contact(
        auch, None, {"first_name": "Marc", "last_name": "Lefèvre", "email": "Marc.Lefevre@ch-auch.fr"}
    )
    db.session.commit()
    return {"tilleuls": tilleuls, "auch": auch, "homonyms": (homonym_a, homonym_b), "contact": contact}


def test_event_matching_by_email_finess_and_name(world):
    event = make_event()
    by_contact = add_registration(event, "marc.lefevre@ch-auch.fr", status="present")
    by_finess = add_registration(
        event, "a@x.fr", structure_name=f"Ehpad Tilleuls (FINESS {world['tilleuls'].finess_et})", department_code="09"
    )
    by_name = add_registration(event, "b@x.fr", structure_name="centre hospitalier d’AUCH", department_code="32")
    ambiguous = add_registration(event, "c@x.fr", structure_name="Ehpad saint-jacques", department_code="81")
    wrong_department = add_registration(event, "d@x.fr", structure_name="EHPAD Les Tilleuls", department_code="32")
    add_registration(event, "e@x.fr", status="annule", structure_name="EHPAD Les Tilleuls", department_code="31")

    summary = match_event(event)
    assert (summary.contacts, summary.structures, summary.unmatched) == (1, 2, 2)
    db.session.expire_all()
    assert (by_contact.contact_id, by_contact.structure_id) == (world["contact"].id, world["auch"].id)
    assert by_finess.structure_id == world["tilleuls"].id and by_finess.department_code == "31"
    assert by_name.structure_id == world["auch"].id
    assert ambiguous.structure_id is None and wrong_department.structure_id is None
    audit = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "match")).all()
    assert {a.entity_id for a in audit} == {by_contact.id, by_finess.id, by_name.id}
    assert all(a.parent_type == "event" and a.parent_id == event.id for a in audit)
    events = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "registration.matched")).all()
    assert {e.payload["how"] for e in events} == {"contact", "structure"}
    assert match_event(event).structures == 0  # nothing left to do: nothing written twice
    assert db.session.query(OutboxEvent).filter_by(type="registration.matched").count() == 3

    page = unmatched_registrations(event_id=event.id)
    assert {r.id for r in page.items} == {ambiguous.id, wrong_department.id} and page.total == 2
    assert unmatched_registrations(department="81").total == 1


def test_resolve_structure_and_create_contact(world, make_user):
    event = make_event()
    registration = add_registration(
        event,
        "Helene.Meric@ehpad.fr",
        first_name="Hélène",
        last_name="Méric",
        structure_name="Ehpad les tilleuls (Muret)",
        department_code="31",
        function="Directrice",
        consent_contact=True,
    )
    animator_gers = make_user("animateur", ["32"])
    with pytest.raises(ValidationFailed) as error:
        resolve_structure(registration, world["tilleuls"].id, user=animator_gers)
    assert "vos départements" in error.value.errors["structure_id"]
    with pytest.raises(ValidationFailed):
        resolve_structure(registration, 999999, user=animator_gers)
    assert db.session.query(AuditEntry).filter_by(action="match").count() == 0

    animator = make_user("animateur", ["31"])
    with pytest.raises(ValidationFailed, match="Rattachez"):
        create_contact(registration, user=animator)
    resolve_structure(registration, world["tilleuls"].id, user=animator)
    contact = create_contact(registration, user=animator)
    db.session.expire_all()
    assert registration.structure_id == world["tilleuls"].id and registration.contact_id == contact.id
    assert (contact.first_name, contact.last_name, contact.email, contact.function, contact.consent) == (
        "Hélène",
        "Méric",
        "Helene.Meric@ehpad.fr",
        "Directrice",
        True,
    )
    assert contact.source == "evenement"
    audit = db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity_type == "registration").order_by(AuditEntry.id)
    ).all()
    assert [list(a.changes) for a in audit] == [["structure_id"], ["contact_id"]]
    assert all(a.user_id == animator.id for a in audit)
    with pytest.raises(ValidationFailed, match="déjà un contact"):
        create_contact(registration, user=animator)
    assert db.session.query(Contact).filter_by(structure_id=world["tilleuls"].id).count() == 1
