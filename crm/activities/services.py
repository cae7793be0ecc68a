"""Logging activities, their timeline and their filtered list."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from crm.accounts.models import User
from crm.accounts.permissions import can_write_structures
from crm.activities.models import KINDS, Activity, activity_programmes, activity_offers, activity_structures
from crm.core.events import record_change
from crm.core.validation import ValidationFailed, parse_date, parse_ids, parse_int, text
from crm.extensions import db
from crm.referential.models import Offer, Programme
from crm.structures.models import Contact, Structure
from crm.structures.services import Page
from crm.tasks.services import add_task

MAX_PAST_DAYS = 366 * 3


def clean_activity_data(data: dict, *, user: User) -> dict:
    """Validate an activity; every error at once, in French."""
    errors: dict[str, str] = {}
    kind = data.get("kind")
    if kind not in KINDS:
        errors["kind"] = "Choisissez le type d'activité."
    occurred_on = parse_date(data.get("occurred_on"), errors, "occurred_on") or (
        None if "occurred_on" in errors else date.today())
    if occurred_on and occurred_on > date.today() + timedelta(days=1):
        errors["occurred_on"] = "Une activité se déclare une fois faite : la date ne peut pas être dans le futur."
    elif occurred_on and occurred_on < date.today() - timedelta(days=MAX_PAST_DAYS):
        errors["occurred_on"] = "Date trop ancienne (plus de trois ans)."
    duration = parse_int(data.get("duration_minutes"), errors, "duration_minutes", minimum=0, maximum=1440,
                         message="Durée en minutes attendue.")
    structure_ids = parse_ids(data.get("structure_ids"), errors, "structure_ids")
    structures = list(db.session.scalars(select(Structure).where(Structure.id.in_(structure_ids)))) \
        if structure_ids else []
    if not structure_ids and "structure_ids" not in errors:
        errors["structure_ids"] = "Choisissez au moins une structure."
    elif len(structures) != len(structure_ids):
        errors["structure_ids"] = "Structure inconnue."
    elif not can_write_structures(user, structures):
        errors["structure_ids"] = "Vous ne pouvez déclarer une activité que pour des structures de vos départements."
    contact_ids = parse_ids(data.get("contact_ids"), errors, "contact_ids")
    contacts = list(db.session.scalars(select(Contact).where(Contact.id.in_(contact_ids)))) if contact_ids else []
    if len(contacts) != len(contact_ids) or any(c.structure_id not in structure_ids or c.erased_at
                                                for c in contacts):
        errors["contact_ids"] = "Les contacts doivent appartenir aux structures choisies."
    offer_ids = parse_ids(data.get("offer_ids"), errors, "offer_ids")
    offers = list(db.session.scalars(select(Offer).where(Offer.id.in_(offer_ids)))) if offer_ids else []
    if len(offers) != len(offer_ids):
        errors["offer_ids"] = "Offre inconnue."
    programme_ids = parse_ids(data.get("programme_ids"), errors, "programme_ids")
    programmes = list(db.session.scalars(select(Programme).where(Programme.id.in_(programme_ids)))) \
        if programme_ids else []
    if len(programmes) != len(programme_ids):
        errors["programme_ids"] = "Programme inconnu."
    next_step = text(data.get("next_step"), errors, "next_step", max_length=300)
    next_due = parse_date(data.get("next_step_due_on"), errors, "next_step_due_on")
    if next_step and not next_due and "next_step_due_on" not in errors:
        errors["next_step_due_on"] = "Indiquez l'échéance de la prochaine étape."
    if next_due and not next_step:
        errors["next_step"] = "Décrivez la prochaine étape."
    out = {
        "kind": kind, "occurred_on": occurred_on, "duration_minutes": duration,
        "subject": text(data.get("subject"), errors, "subject", max_length=200),
        "notes": text(data.get("notes"), errors, "notes", max_length=20000),
        "is_information": bool(data.get("is_information")) if not isinstance(data.get("is_information"), str)
        else data.get("is_information").lower() in ("1", "true", "y", "on", "oui"),
        "next_step": next_step, "next_step_due_on": next_due,
        "structures": structures, "contacts": contacts, "offers": offers, "programmes": programmes,
    }
    if errors:
        raise ValidationFailed(errors)
    return out


def activity_payload(activity: Activity) -> dict:
    """What the indicator engine needs: one entry per structure concerned, with its department and sector."""
    return {
        "activity_id": activity.id, "kind": activity.kind, "occurred_on": activity.occurred_on,
        "is_information": activity.is_information, "author_id": activity.author_id,
        "structures": [{"structure_id": s.id, "department": s.department_code,
                        "sector": s.sector.code if s.sector else None} for s in activity.structures],
        "programme_ids": activity.all_programme_ids(), "offer_ids": sorted(o.id for o in activity.offers),
    }


def log_activity(data: dict, *, user: User) -> Activity:
    """Log an activity; a next step becomes a task for its author, in the same transaction."""
    values = clean_activity_data(data, user=user)
    activity = Activity(author_id=user.id, **values)
    db.session.add(activity)
    db.session.flush()
    record_change(entity_type="activity", entity_id=activity.id, action="create",
                  changes={"kind": [None, activity.kind], "occurred_on": [None, activity.occurred_on],
                           "structures": [None, [s.id for s in activity.structures]]},
                  event_type="activity.logged", payload=activity_payload(activity), user_id=user.id)
    if activity.next_step:
        add_task(title=activity.next_step, owner_id=user.id, created_by_id=user.id, source="activite",
                 due_on=activity.next_step_due_on, structure_id=activity.structures[0].id,
                 activity_id=activity.id)
    db.session.commit()
    return activity


def activity_filters(*, department: str | None = None, kind: str | None = None, programme: int | None = None,
                     author: int | None = None, start: date | None = None, end: date | None = None,
                     structure: int | None = None) -> list:
    clauses = []
    if department or structure:
        sub = select(activity_structures.c.activity_id).join(
            Structure, Structure.id == activity_structures.c.structure_id)
        if department:
            sub = sub.where(Structure.department_code == department)
        if structure:
            sub = sub.where(activity_structures.c.structure_id == structure)
        clauses.append(Activity.id.in_(sub))
    if kind:
        clauses.append(Activity.kind == kind)
    if programme:
        clauses.append(Activity.id.in_(
            select(activity_programmes.c.activity_id).where(activity_programmes.c.programme_id == programme)
            .union(select(activity_offers.c.activity_id).join(Offer, Offer.id == activity_offers.c.offer_id)
                   .where(Offer.programme_id == programme))))
    if author:
        clauses.append(Activity.author_id == author)
    if start:
        clauses.append(Activity.occurred_on >= start)
    if end:
        clauses.append(Activity.occurred_on <= end)
    return clauses


def list_activities(*, page: int = 1, per_page: int = 50, **filters) -> Page:
    clauses = activity_filters(**filters)
    total = db.session.scalar(select(func.count()).select_from(Activity).where(*clauses)) or 0
    items = db.session.scalars(select(Activity).where(*clauses)
                               .order_by(Activity.occurred_on.desc(), Activity.id.desc())
                               .offset((max(page, 1) - 1) * per_page).limit(per_page)).all()
    return Page(items=list(items), total=total, page=max(page, 1), per_page=per_page)


def structure_timeline(structure_id: int, limit: int = 50) -> list[Activity]:
    """The structure's latest activities, newest first."""
    return list_activities(structure=structure_id, per_page=limit).items
