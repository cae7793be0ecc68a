"""Contacts of a structure, their consent, and their erasure on request (RGPD)."""

from __future__ import annotations

from sqlalchemy import select

from crm.platform.events import diff, record_change
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, utcnow
from crm.platform.validation import line_break_error
from crm.structures.models import Contact, Structure
from crm.structures.services import ValidationFailed, _blank, _clean_email, _clean_phone, persist

CONTACT_FIELDS = ("civility", "first_name", "last_name", "function", "email", "phone", "consent", "source")
PERSONAL_FIELDS = ("civility", "first_name", "last_name", "function", "email", "phone")
CIVILITIES = ("", "Mme", "M.", "Dr", "Pr")


def clean_contact_data(data: dict) -> dict:
    errors: dict[str, str] = {}
    out = {field: _blank(data.get(field)) for field in ("first_name", "last_name", "function", "source")}
    civility = _blank(data.get("civility"))
    if civility and civility not in CIVILITIES:
        errors["civility"] = "Civilité inconnue."
    out["civility"] = civility
    if not out["last_name"] and not _blank(data.get("email")):
        errors["last_name"] = "Indiquez au moins le nom ou l'adresse e-mail du contact."
    for field, limit in (("first_name", 80), ("last_name", 80), ("function", 120), ("source", 40)):
        if out[field] and len(out[field]) > limit:
            errors[field] = f"Pas plus de {limit} caractères."
        elif message := line_break_error(out[field]):
            errors[field] = message
    out["email"] = _clean_email(data.get("email"), errors)
    out["phone"] = _clean_phone(data.get("phone"), errors)
    out["consent"] = bool(data.get("consent"))
    if errors:
        raise ValidationFailed(errors)
    return out


def _snapshot(contact: Contact) -> dict:
    return {field: getattr(contact, field) for field in CONTACT_FIELDS}


def _payload(contact: Contact, structure: Structure) -> dict:
    # Identifiers only: personal data never travels in events.
    return {
        "contact_id": contact.id,
        "structure_id": structure.id,
        "department": structure.department_code,
        "consent": contact.consent,
    }


def save_contact(structure: Structure, contact: Contact | None, data: dict) -> Contact:
    """Create or update a contact; consent is dated when it is given."""
    values = clean_contact_data(data)
    creating = contact is None
    if contact is not None and contact.erased_at:
        raise ValidationFailed({"__all__": "Ce contact a été effacé à sa demande : il ne peut plus être modifié."})
    before = {} if creating else _snapshot(contact)
    if creating:
        contact = Contact(structure_id=structure.id)
        db.session.add(contact)
    had_consent = contact.consent if not creating else False
    for field, value in values.items():
        setattr(contact, field, value)
    if contact.consent and not had_consent:
        contact.consent_at = utcnow()
    elif not contact.consent:
        contact.consent_at = None
    changes = diff(before, _snapshot(contact))
    if not changes and not creating:
        return contact
    with persist():
        db.session.flush()
        record_change(
            entity_type="contact",
            entity_id=contact.id,
            action="create" if creating else "update",
            changes=changes,
            event_type="contact.created" if creating else "contact.updated",
            payload=_payload(contact, structure),
            parent=("structure", structure.id),
        )
    return contact


def _scrub_history(contact: Contact) -> None:
    """Replace the personal values kept in the contact's audit entries."""
    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity_type == "contact", AuditEntry.entity_id == contact.id)
    ).all()
    for entry in entries:
        entry.changes = {
            field: ["[effacé]", "[effacé]"] if field in PERSONAL_FIELDS else values
            for field, values in (entry.changes or {}).items()
        }


def delete_contact(contact: Contact) -> None:
    """Delete a contact; its history stays on the structure, without the person's data."""
    structure = contact.structure
    with persist():
        _scrub_history(contact)
        record_change(
            entity_type="contact",
            entity_id=contact.id,
            action="delete",
            changes={},
            event_type="contact.deleted",
            payload=_payload(contact, structure),
            parent=("structure", structure.id),
        )
        db.session.delete(contact)


def erase_contact(contact: Contact) -> None:
    """Erase a person's data on request, keeping the row so that counts stay intact.

    The personal values are also scrubbed from the contact's audit history,
    which would otherwise keep them.
    """
    if contact.erased_at:
        return
    structure = contact.structure
    for field in PERSONAL_FIELDS:
        setattr(contact, field, None)
    contact.consent = False
    contact.consent_at = None
    contact.erased_at = utcnow()
    with persist():
        _scrub_history(contact)
        record_change(
            entity_type="contact",
            entity_id=contact.id,
            action="erase",
            changes={},
            event_type="contact.erased",
            payload=_payload(contact, structure),
            parent=("structure", structure.id),
        )


def contact_for(structure: Structure, contact_id: int) -> Contact | None:
    return db.session.scalar(select(Contact).where(Contact.id == contact_id, Contact.structure_id == structure.id))
