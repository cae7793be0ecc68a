"""Matching registrants to contacts and structures: the participation indicator counts structures.

Automatically: by email to a known contact (and so to its structure), by FINESS number found in
the structure typed by the registrant, or by the structure's name (folded) in the registrant's
department when exactly one open structure has it. What stays unmatched is listed for an
animator, who picks the structure or turns the registrant into a contact. Every change is
audited on the registration (shown in its event's history) with a ``registration.matched`` event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import lazyload

from crm.accounts.models import User
from crm.accounts.permissions import can_edit_department, can_edit_structure
from crm.events.models import ANONYMOUS_DOMAIN, Event, Registration
from crm.platform.events import record_change
from crm.platform.extensions import db
from crm.platform.paging import Page
from crm.platform.text import fold
from crm.platform.validation import ValidationFailed
from crm.structures.contacts import save_contact
from crm.structures.models import Contact, Structure

_FINESS = re.compile(r"(?<![0-9A-Za-z])((?:\d{2}|2[AaBb])\d{7})(?![0-9A-Za-z])")
MATCHABLE = ("inscrit", "attente", "present", "absent", "excuse")


@dataclass
class MatchSummary:
    contacts: int = 0
    structures: int = 0
    unmatched: int = 0


def contact_for_email(email_key: str) -> Contact | None:
    """The contact with this email; None when there is none, or several at different structures."""
    contacts = db.session.scalars(
        select(Contact)
        .where(func.lower(Contact.email) == email_key, Contact.erased_at.is_(None))
        .order_by(Contact.id)
        .limit(5)
    ).all()
    if not contacts or len({c.structure_id for c in contacts}) > 1:
        return None
    return contacts[0]


def structure_for(name: str | None, department_code: str | None) -> Structure | None:
    """The structure a registrant typed: its FINESS number, else its exact name (folded) in the department."""
    if not name:
        return None
    finess = _FINESS.search(name)
    if finess:
        found = db.session.scalar(select(Structure).where(Structure.finess_et == finess.group(1).upper()))
        if found is not None:
            return found
    key = fold(name)
    if not key or not department_code:
        return None
    candidates = db.session.scalars(
        select(Structure)
        .options(lazyload("*"))
        .where(Structure.department_code == department_code, Structure.search_text.startswith(key))
        .limit(50)
    ).all()
    same = [s for s in candidates if key in (fold(s.name), fold(s.long_name))]
    open_ones = [s for s in same if s.is_open]
    if len(open_ones) == 1:
        return open_ones[0]
    return same[0] if len(same) == 1 else None


def _payload(registration: Registration) -> dict:
    structure = registration.structure
    return {
        "event_id": registration.event_id,
        "registration_id": registration.id,
        "status": registration.status,
        "structure_id": registration.structure_id,
        "contact_id": registration.contact_id,
        "structure_department": structure.department_code if structure else registration.department_code,
        "structure_sector": structure.sector.code if structure and structure.sector else None,
    }


def _record(registration: Registration, before: dict, how: str, user_id: int | None) -> None:
    changes = {
        key: [before[key], getattr(registration, key)] for key in before if before[key] != getattr(registration, key)
    }
    record_change(
        entity_type="registration",
        entity_id=registration.id,
        action="match",
        changes=changes,
        event_type="registration.matched",
        payload={**_payload(registration), "how": how},
        user_id=user_id,
        parent=("event", registration.event_id),
    )


def _snapshot(registration: Registration) -> dict:
    return {
        "structure_id": registration.structure_id,
        "contact_id": registration.contact_id,
        "department_code": registration.department_code,
    }


def match_registration(registration: Registration, *, user_id: int | None = None) -> str | None:
    """Match one registration in the caller's transaction; returns how ("contact", "structure") or None."""
    if registration.email_key.endswith("@" + ANONYMOUS_DOMAIN):
        return None
    before = _snapshot(registration)
    how = None
    if registration.contact_id is None:
        contact = contact_for_email(registration.email_key)
        if contact is not None and registration.structure_id in (None, contact.structure_id):
            registration.contact_id = contact.id
            registration.structure_id = contact.structure_id
            registration.department_code = contact.structure.department_code
            how = "contact"
    if registration.structure_id is None:
        structure = structure_for(registration.structure_name, registration.department_code)
        if structure is not None:
            registration.structure_id = structure.id
            registration.department_code = structure.department_code
            how = "structure"
    if how:
        db.session.flush()
        db.session.expire(registration, ["structure"])
        _record(registration, before, how, user_id)
    return how


def match_event(event: Event, *, user_id: int | None = None) -> MatchSummary:
    """Match every registration of the event still missing a contact or a structure; one commit."""
    summary = MatchSummary()
    registrations = db.session.scalars(
        select(Registration)
        .where(
            Registration.event_id == event.id,
            Registration.status.in_(MATCHABLE),
            (Registration.contact_id.is_(None)) | (Registration.structure_id.is_(None)),
        )
        .order_by(Registration.id)
    ).all()
    for registration in registrations:
        how = match_registration(registration, user_id=user_id)
        if how == "contact":
            summary.contacts += 1
        elif how == "structure":
            summary.structures += 1
        if registration.structure_id is None:
            summary.unmatched += 1
    db.session.commit()
    return summary


def unmatched_filters(
    *, event_id: int | None = None, department: str | None = None, missing: str = "structure"
) -> list:
    """``missing="structure"``: no structure yet; ``"contact"``: a structure, consent given, not a contact yet."""
    clauses = [Registration.status.in_(MATCHABLE), ~Registration.email_key.endswith("@" + ANONYMOUS_DOMAIN)]
    if missing == "contact":
        clauses += [
            Registration.structure_id.is_not(None),
            Registration.contact_id.is_(None),
            Registration.consent_contact.is_(True),
        ]
    else:
        clauses.append(Registration.structure_id.is_(None))
    if event_id:
        clauses.append(Registration.event_id == event_id)
    if department:
        clauses.append(Registration.department_code == department)
    return clauses


def unmatched_registrations(*, page: int = 1, per_page: int = 50, **filters) -> Page:
    """Registrations without a structure (or not yet contacts), latest events first."""
    clauses = unmatched_filters(**filters)
    total = db.session.scalar(select(func.count()).select_from(Registration).where(*clauses)) or 0
    items = db.session.scalars(
        select(Registration)
        .join(Event, Event.id == Registration.event_id)
        .where(*clauses)
        .order_by(Event.starts_at.desc(), Registration.last_name, Registration.first_name, Registration.id)
        .offset((max(page, 1) - 1) * per_page)
        .limit(per_page)
    ).all()
    return Page(items=list(items), total=total, page=max(page, 1), per_page=per_page)


def can_resolve(user: User, registration: Registration, structure: Structure) -> bool:
    """Attach ``registration`` to ``structure``: organisers anywhere (their registrants are event data),
    admins everywhere, animators as in the CRM, within their departments: both the structure's and
    the registrant's (its structure's, or the one it declared)."""
    if not user.is_authenticated:
        return False
    if user.role == "organisateur":
        return True
    current = registration.structure.department_code if registration.structure else registration.department_code
    return can_edit_department(user, structure.department_code) and (
        current is None or can_edit_department(user, current)
    )


def can_create_contact(user: User, registration: Registration) -> bool:
    """A contact is the CRM's: created by whoever edits its structure (the animators of its department,
    admins), never by an organiser."""
    return registration.structure is not None and can_edit_structure(user, registration.structure)


def resolve_structure(registration: Registration, structure_id: int | None, *, user: User) -> Registration:
    """An animator picks the registrant's structure."""
    structure = db.session.get(Structure, structure_id) if structure_id else None
    if structure is None:
        raise ValidationFailed({"structure_id": "Choisissez une structure dans la liste."})
    if not can_resolve(user, registration, structure):
        raise ValidationFailed(
            {
                "structure_id": "Vous ne pouvez rattacher que les inscrits de vos départements "
                "à une structure de vos départements."
            }
        )
    if registration.contact_id is not None and registration.structure_id not in (None, structure.id):
        raise ValidationFailed({"structure_id": "Cet inscrit est un contact d'une autre structure."})
    before = _snapshot(registration)
    registration.structure_id = structure.id
    registration.department_code = structure.department_code
    db.session.flush()
    db.session.expire(registration, ["structure"])
    _record(registration, before, "manuel", user.id)
    db.session.commit()
    return registration


def create_contact(registration: Registration, *, user: User) -> Contact:
    """Turn a matched registrant into a contact of its structure (or link the contact that has this email there)."""
    structure = registration.structure
    if structure is None:
        raise ValidationFailed({"structure_id": "Rattachez d'abord l'inscrit à une structure."})
    if not can_create_contact(user, registration):
        message = (
            "Les contacts sont créés par les animateurs du département de la structure."
            if user.role == "organisateur"
            else "Vous ne pouvez créer de contact que dans vos départements."
        )
        raise ValidationFailed({"structure_id": message})
    if registration.contact_id is not None:
        raise ValidationFailed({"contact_id": "Cet inscrit est déjà un contact."})
    contact = db.session.scalar(
        select(Contact).where(
            Contact.structure_id == structure.id,
            func.lower(Contact.email) == registration.email_key,
            Contact.erased_at.is_(None),
        )
    )
    if contact is None:
        # Committed by the contact service; a failure below leaves a contact the next attempt links.
        contact = save_contact(
            structure,
            None,
            {
                "first_name": registration.first_name,
                "last_name": registration.last_name,
                "email": registration.email,
                "function": registration.function,
                "consent": registration.consent_contact,
                "source": "evenement",
            },
        )
    before = _snapshot(registration)
    registration.contact_id = contact.id
    db.session.flush()
    _record(registration, before, "contact_cree", user.id)
    db.session.commit()
    return contact
