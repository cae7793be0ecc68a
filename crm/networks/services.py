"""Networks: référents, grappes and their applications, links between structures. Every write records its
audit entry and domain event in the same transaction (:func:`crm.platform.events.record_change`).

Roles (crm/accounts/permissions.py): animators write in their departments, admins everywhere; managers and
organisers read. Organisers (and admins) invite an offer's référents to an event.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from sqlalchemy import Subquery, and_, distinct, func, or_, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from crm.accounts.permissions import can_edit_department, can_manage_events
from crm.deployment.models import DEPLOYED, RANKS, StructureDeployment
from crm.events.models import Event, EventType, Registration
from crm.events.registration.registrations import RegistrationClosed, register
from crm.networks.models import (
    APPLICATION_PROGRAMMES,
    APPLICATION_STATUSES,
    APPLICATION_TRANSITIONS,
    GRAPPE_STATUSES,
    Grappe,
    ProgrammeApplication,
    Referent,
    StructureLink,
    StructureLinkType,
    grappe_members,
)
from crm.platform.dates import local_date, local_today
from crm.platform.events import record_change
from crm.platform.exports import ExportTable
from crm.platform.extensions import db
from crm.platform.uploads import UploadRefused, check_cells
from crm.platform.validation import ValidationFailed, as_id, blank, parse_date, text
from crm.referential.models import Offer
from crm.structures.models import Contact, Structure

READ_ROLES = ("animateur", "organisateur", "manager", "admin")
RDV_ESMS_NUMERIQUE = "rdv_esms_numerique"  # the event type whose attendance forms grappes
MAX_IMPORT_LINES = 20_000
MAX_GRAPPE_MEMBERS = 200


def can_read(user) -> bool:
    return bool(user and user.is_authenticated and user.role in READ_ROLES)


def can_write_in(user, department_code: str | None) -> bool:
    return bool(user and can_edit_department(user, department_code))


def can_write_any(user) -> bool:
    return bool(
        user and user.is_authenticated and (user.role == "admin" or (user.role == "animateur" and user.departments))
    )


def can_invite(user) -> bool:
    return bool(user and can_manage_events(user))


class Forbidden(Exception):
    """The user may not make this change (the route answers 403)."""


def _require(allowed: bool) -> None:
    if not allowed:
        raise Forbidden()


# --- Using an offer --------------------------------------------------------------------------------------


def _using_offer(offer_id: int):
    """SQL: the ids of the structures that use the offer: their deployment status for it is at or beyond
    "déployé" (the deployment rate's numerator, crm/deployment)."""
    using = [code for code, rank in RANKS.items() if rank >= RANKS[DEPLOYED]]
    return select(StructureDeployment.structure_id).where(
        StructureDeployment.offer_id == offer_id, StructureDeployment.status.in_(using)
    )


def uses_offer(structure_ids, offer_id: int) -> set[int]:
    """The structures among ``structure_ids`` (None: all) that use the offer."""
    ids = None if structure_ids is None else set(structure_ids)
    if ids is not None and not ids:
        return set()
    query = _using_offer(offer_id)
    if ids is not None and len(ids) <= 5000:
        query = query.where(StructureDeployment.structure_id.in_(ids))
    found = set(db.session.scalars(query))
    return found if ids is None else found & ids


def _pairs():
    """Each link seen from both ends: (structure_id, partner_id, type_id)."""
    return union_all(
        select(
            StructureLink.structure_a_id.label("structure_id"),
            StructureLink.structure_b_id.label("partner_id"),
            StructureLink.type_id.label("type_id"),
        ),
        select(StructureLink.structure_b_id, StructureLink.structure_a_id, StructureLink.type_id),
    ).subquery("pairs")


def equipped_partners(offer_id: int, structure_ids: list[int] | None = None) -> Subquery:
    """SQL (structure_id, n): for each structure (of ``structure_ids``, a page's few; None: every one), its
    number of distinct linked structures that use the offer (the targeting list's "partenaires déjà
    équipés", crm/deployment/targeting.py)."""
    pairs = _pairs()
    query = select(pairs.c.structure_id, func.count(distinct(pairs.c.partner_id)).label("n")).where(
        pairs.c.partner_id.in_(_using_offer(offer_id))
    )
    if structure_ids is not None:
        query = query.where(pairs.c.structure_id.in_(structure_ids))
    return query.group_by(pairs.c.structure_id).subquery("equipped_partners")


# --- Référents -------------------------------------------------------------------------------------------


def referent_payload(referent: Referent) -> dict:
    return {
        "referent_id": referent.id,
        "contact_id": referent.contact_id,
        "structure_id": referent.structure_id,
        "department": referent.structure.department_code if referent.structure else None,
        "offer_id": referent.offer_id,
        "started_on": referent.started_on,
        "ended_on": referent.ended_on,
    }


def name_referent(data: dict, *, user) -> Referent:
    """Name a contact the référent of its structure for an offer (from ``started_on``, today by default)."""
    errors: dict[str, str] = {}
    contact_id = as_id(data.get("contact_id"))
    contact = db.session.get(Contact, contact_id) if contact_id else None
    if contact is None or contact.erased_at is not None:
        errors["contact_id"] = "Choisissez un contact de la structure."
    offer_id = as_id(data.get("offer_id"))
    offer = db.session.get(Offer, offer_id) if offer_id else None
    if offer is None:
        errors["offer_id"] = "Choisissez une offre."
    started_on = parse_date(data.get("started_on"), errors, "started_on") or local_today()
    if errors:
        raise ValidationFailed(errors)
    structure = contact.structure
    _require(can_write_in(user, structure.department_code))
    existing = db.session.scalar(
        select(Referent).where(
            Referent.contact_id == contact.id, Referent.offer_id == offer.id, Referent.ended_on.is_(None)
        )
    )
    if existing is not None:
        raise ValidationFailed({"offer_id": "Ce contact est déjà référent de cette offre."})
    referent = Referent(contact_id=contact.id, structure_id=structure.id, offer_id=offer.id, started_on=started_on)
    db.session.add(referent)
    db.session.flush()
    record_change(
        entity_type="referent",
        entity_id=referent.id,
        action="create",
        changes={"offer_id": [None, offer.id], "contact_id": [None, contact.id], "started_on": [None, started_on]},
        event_type="referent.named",
        payload=referent_payload(referent),
        user_id=user.id,
        parent=("structure", structure.id),
    )
    db.session.commit()
    return referent


def end_referent(referent: Referent, *, user, ended_on: date | None = None) -> Referent:
    _require(can_write_in(user, referent.structure.department_code))
    if referent.ended_on is not None:
        return referent
    ended_on = ended_on or local_today()
    if ended_on < referent.started_on:
        raise ValidationFailed({"ended_on": "La fin ne peut précéder le début."})
    referent.ended_on = ended_on
    db.session.flush()
    record_change(
        entity_type="referent",
        entity_id=referent.id,
        action="update",
        changes={"ended_on": [None, ended_on]},
        event_type="referent.ended",
        payload=referent_payload(referent),
        user_id=user.id,
        parent=("structure", referent.structure_id),
    )
    db.session.commit()
    return referent


REFERENTS_PAGE = 200


def _referents_query(offer_id: int | None, department: str | None, active_only: bool):
    query = (
        select(Referent)
        .join(Structure, Structure.id == Referent.structure_id)
        .join(Contact, Contact.id == Referent.contact_id)
        .where(Contact.erased_at.is_(None))
    )
    if offer_id:
        query = query.where(Referent.offer_id == offer_id)
    if department:
        query = query.where(Structure.department_code == department)
    if active_only:
        query = query.where(Referent.ended_on.is_(None))
    return query


def referents(
    *,
    offer_id: int | None = None,
    department: str | None = None,
    active_only: bool = True,
    limit: int | None = None,
    offset: int = 0,
):
    query = _referents_query(offer_id, department, active_only).order_by(
        Structure.department_code, Structure.name, Contact.last_name, Referent.id
    )
    if limit:
        query = query.limit(limit).offset(offset)
    return list(db.session.scalars(query).unique())


def count_referents(*, offer_id: int | None = None, department: str | None = None, active_only: bool = True) -> int:
    query = _referents_query(offer_id, department, active_only).with_only_columns(
        func.count(Referent.id), maintain_column_froms=True
    )
    return db.session.scalar(query) or 0


def referents_of_structure(structure_id: int) -> list[Referent]:
    return list(
        db.session.scalars(
            select(Referent)
            .where(Referent.structure_id == structure_id)
            .order_by(Referent.ended_on.is_not(None), Referent.started_on.desc())
        ).unique()
    )


@dataclass
class InvitationSummary:
    registered: int = 0
    already: int = 0
    without_email: int = 0
    refused: list[str] = field(default_factory=list)

    def text(self) -> str:
        s = "s" if self.registered > 1 else ""
        parts = [f"{self.registered} référent{s} inscrit{s}"]
        if self.already:
            parts.append(f"{self.already} déjà inscrit{'s' if self.already > 1 else ''}")
        if self.without_email:
            parts.append(f"{self.without_email} sans adresse e-mail")
        if self.refused:
            parts.append(f"{len(self.refused)} refusé{'s' if len(self.refused) > 1 else ''}")
        return ", ".join(parts) + "."


def invite_referents(event: Event, offer_id: int, *, user, department: str | None = None) -> InvitationSummary:
    """Register the active référents of an offer to ``event`` in one action (back-office registrations).

    Each registration's personal link goes by email through the ``registration_emails`` rule, as for any
    registration; a référent already registered is asked nothing twice (``register`` says "existant").
    """
    _require(can_invite(user))
    summary = InvitationSummary()
    seen: set[str] = set()
    for referent in referents(offer_id=offer_id, department=department):
        contact = referent.contact
        email = (contact.email or "").strip().lower()
        if not email:
            summary.without_email += 1
            continue
        if email in seen:
            continue
        seen.add(email)
        already = db.session.scalar(
            select(Registration.id).where(
                Registration.event_id == event.id, Registration.email_key == email, Registration.status != "annule"
            )
        )
        if already is not None:
            summary.already += 1
            continue
        data = {
            "first_name": contact.first_name or "—",
            "last_name": contact.last_name or "—",
            "email": contact.email,
            "function": contact.function,
            "structure_id": referent.structure_id,
            "consent_contact": "non",
        }
        try:
            _registration, outcome = register(event, data, source="back_office", user_id=user.id)
        except (ValidationFailed, RegistrationClosed) as refused:
            db.session.rollback()
            summary.refused.append(f"{contact.first_name or ''} {contact.last_name or ''} : {refused}".strip())
            continue
        if outcome == "existant":
            summary.already += 1
        else:
            summary.registered += 1
    return summary


@dataclass
class CommunityFigures:
    offer: Offer
    referents: int
    reached: int  # référents registered to at least one event
    sessions_attended: int  # attendances (status present) of référents

    @property
    def reach_rate(self) -> float | None:
        return self.reached / self.referents if self.referents else None


def community_figures(department: str | None = None) -> list[CommunityFigures]:
    """Per offer with référents: how many, how many reached by an event, how many sessions they attended."""
    query = (
        select(Referent.offer_id, Referent.contact_id, Contact.email)
        .join(Contact, Contact.id == Referent.contact_id)
        .join(Structure, Structure.id == Referent.structure_id)
        .where(Referent.ended_on.is_(None), Contact.erased_at.is_(None))
    )
    if department:
        query = query.where(Structure.department_code == department)
    by_offer: dict[int, dict[int, str]] = defaultdict(dict)
    for offer_id, contact_id, email in db.session.execute(query):
        by_offer[offer_id][contact_id] = (email or "").strip().lower()
    if not by_offer:
        return []
    emails = {e for contacts in by_offer.values() for e in contacts.values() if e}
    contact_ids = {c for contacts in by_offer.values() for c in contacts}
    regs = db.session.execute(
        select(Registration.contact_id, Registration.email_key, Registration.status).where(
            Registration.status != "annule",
            or_(Registration.contact_id.in_(contact_ids), Registration.email_key.in_(emails or {""})),
        )
    ).all()
    registered_contacts: set[int] = set()
    registered_emails: set[str] = set()
    attended_contacts: dict[int, int] = defaultdict(int)
    attended_emails: dict[str, int] = defaultdict(int)
    for contact_id, email_key, status in regs:
        if contact_id:
            registered_contacts.add(contact_id)
        if email_key:
            registered_emails.add(email_key)
        if status == "present":
            if contact_id:
                attended_contacts[contact_id] += 1
            elif email_key:
                attended_emails[email_key] += 1
    offers = {o.id: o for o in db.session.scalars(select(Offer).where(Offer.id.in_(by_offer)))}
    out = []
    for offer_id, contacts in by_offer.items():
        reached = sum(1 for c, e in contacts.items() if c in registered_contacts or (e and e in registered_emails))
        sessions = sum(
            attended_contacts.get(c, 0) + (attended_emails.get(e, 0) if e else 0) for c, e in contacts.items()
        )
        out.append(CommunityFigures(offers[offer_id], len(contacts), reached, sessions))
    return sorted(out, key=lambda f: f.offer.label)


# --- Grappes ---------------------------------------------------------------------------------------------


def grappe_payload(grappe: Grappe) -> dict:
    return {
        "grappe_id": grappe.id,
        "name": grappe.name,
        "lead_structure_id": grappe.lead_structure_id,
        "department": grappe.lead.department_code if grappe.lead else None,
        "status": grappe.status,
        "created_on": grappe.created_on,
        "member_ids": sorted(s.id for s in grappe.members),
    }


def clean_grappe(data: dict) -> dict:
    errors: dict[str, str] = {}
    name = text(
        data.get("name"), errors, "name", max_length=200, required=True, message="Nommez la grappe.", one_line=True
    )
    lead = _find_structure(str(data.get("lead_structure_id") or ""))
    if lead is None:
        errors["lead_structure_id"] = "Structure porteuse introuvable : son n° FINESS ou son identifiant."
    status = str(data.get("status") or "en_constitution")
    if status not in GRAPPE_STATUSES:
        errors["status"] = "Statut inconnu."
    created_on = parse_date(data.get("created_on"), errors, "created_on") or local_today()
    raw_members = data.get("member_ids") or []
    if isinstance(raw_members, str):
        raw_members = raw_members.replace(";", ",").replace(" ", ",").split(",")
    tokens = [str(m).strip() for m in raw_members if str(m).strip()]
    if len(tokens) > MAX_GRAPPE_MEMBERS:
        errors["member_ids"] = f"{MAX_GRAPPE_MEMBERS} membres au plus."
        tokens = []
    members, unknown = [], []
    for token in tokens:
        found = _find_structure(token)
        if found is None:
            unknown.append(token[:20])
        elif found not in members:
            members.append(found)
    if unknown:
        errors["member_ids"] = "Structure inconnue (FINESS ou identifiant) : " + ", ".join(unknown[:5]) + "."
    if errors:
        raise ValidationFailed(errors)
    if lead not in members:
        members.append(lead)
    return {"name": name, "lead": lead, "status": status, "created_on": created_on, "members": members}


def save_grappe(grappe: Grappe | None, data: dict, *, user) -> Grappe:
    values = clean_grappe(data)
    _require(can_write_in(user, values["lead"].department_code))
    if grappe is not None:
        _require(can_write_in(user, grappe.lead.department_code))
    creating = grappe is None
    before = {} if creating else grappe_payload(grappe)
    if creating:
        grappe = Grappe()
        db.session.add(grappe)
    grappe.name, grappe.lead, grappe.status = values["name"], values["lead"], values["status"]
    grappe.lead_structure_id = values["lead"].id
    grappe.created_on = values["created_on"]
    grappe.members = values["members"]
    db.session.flush()
    after = grappe_payload(grappe)
    changed = [
        k for k in ("name", "lead_structure_id", "status", "created_on", "member_ids") if before.get(k) != after[k]
    ]
    if creating or changed:
        record_change(
            entity_type="grappe",
            entity_id=grappe.id,
            action="create" if creating else "update",
            changes={k: [before.get(k), after[k]] for k in changed},
            event_type="grappe.created" if creating else "grappe.updated",
            payload=after if creating else {**after, "changed": changed},
            user_id=user.id,
        )
    db.session.commit()
    return grappe


def grappes(department: str | None = None) -> list[Grappe]:
    query = (
        select(Grappe)
        .join(Structure, Structure.id == Grappe.lead_structure_id)
        .order_by(Grappe.created_on.desc(), Grappe.name)
    )
    if department:
        query = query.where(Structure.department_code == department)
    return list(db.session.scalars(query).unique())


def grappe_sizes(grappe_list) -> dict[int, int]:
    """Each grappe's number of members, in one statement for the whole list."""
    ids = [g.id for g in grappe_list]
    if not ids:
        return {}
    return dict(
        db.session.execute(
            select(grappe_members.c.grappe_id, func.count())
            .where(grappe_members.c.grappe_id.in_(ids))
            .group_by(grappe_members.c.grappe_id)
        ).all()
    )


def grappes_formed_via_rendez_vous(grappe_list) -> set[int]:
    """The grappes one of whose structures attended (status present) a Rendez-vous ESMS numérique held on a
    day strictly before the grappe's creation date."""
    grappe_list = list(grappe_list)
    if not grappe_list:
        return set()
    ids = [g.id for g in grappe_list]
    created = {g.id: g.created_on for g in grappe_list}
    members = db.session.execute(
        select(grappe_members.c.grappe_id, grappe_members.c.structure_id).where(grappe_members.c.grappe_id.in_(ids))
    ).all()
    structures_of: dict[int, set[int]] = defaultdict(set)
    for g in grappe_list:
        structures_of[g.id].add(g.lead_structure_id)
    for grappe_id, structure_id in members:
        structures_of[grappe_id].add(structure_id)
    all_structures = {s for ss in structures_of.values() for s in ss}
    first_attendance: dict[int, date] = {}
    rows = db.session.execute(
        select(Registration.structure_id, Event.starts_at)
        .join(Event, Event.id == Registration.event_id)
        .join(EventType, EventType.id == Event.type_id)
        .where(
            EventType.code == RDV_ESMS_NUMERIQUE,
            Registration.status == "present",
            Registration.structure_id.in_(all_structures),
        )
    )
    for structure_id, starts_at in rows:
        day = local_date(starts_at)
        if structure_id not in first_attendance or day < first_attendance[structure_id]:
            first_attendance[structure_id] = day
    return {
        gid
        for gid, structures in structures_of.items()
        if any(s in first_attendance and first_attendance[s] < created[gid] for s in structures)
    }


@dataclass
class GrappeAttribution:
    total: int
    via_rendez_vous: int

    @property
    def share(self) -> float | None:
        return self.via_rendez_vous / self.total if self.total else None

    def as_dict(self) -> dict:
        share = round(self.share, 4) if self.share is not None else None
        return {"grappes": self.total, "formed_via_rendez_vous": self.via_rendez_vous, "share": share}


def grappe_attribution(
    department: str | None = None,
    year: int | None = None,
    *,
    departments=None,
    start: date | None = None,
    end: date | None = None,
) -> GrappeAttribution:
    """The grappes (of ``department`` or ``departments``, by their lead; created in ``year`` or between ``start``
    and ``end``) and how many formed via a Rendez-vous ESMS numérique."""
    found = [
        g
        for g in grappes(department)
        if (year is None or g.created_on.year == year)
        and (departments is None or g.lead.department_code in departments)
        and (start is None or g.created_on >= start)
        and (end is None or g.created_on <= end)
    ]
    return GrappeAttribution(len(found), len(grappes_formed_via_rendez_vous(found)))


# --- Applications to national programmes ----------------------------------------------------------------


def application_payload(application: ProgrammeApplication) -> dict:
    return {
        "application_id": application.id,
        "programme": application.programme,
        "call": application.call,
        "status": application.status,
        "structure_id": application.structure_id,
        "grappe_id": application.grappe_id,
        "amount_requested": application.amount_requested,
        "amount_granted": application.amount_granted,
    }


def _amount(raw, errors: dict, field_name: str) -> Decimal | None:
    value = blank(raw)
    if value is None:
        return None
    cleaned = str(value).replace("\u202f", "").replace("\u00a0", "").replace(" ", "").replace("€", "").replace(",", ".")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        errors[field_name] = "Montant attendu en euros (par exemple 25 000)."
        return None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("10000000000"):
        errors[field_name] = "Montant attendu en euros (par exemple 25 000)."
        return None
    return amount.quantize(Decimal("0.01"))


def _application_department(application: ProgrammeApplication) -> str:
    return application.grappe.lead.department_code if application.grappe else application.structure.department_code


def save_application(application: ProgrammeApplication | None, data: dict, *, user, structure=None, grappe=None):
    """Create an application of ``structure`` or ``grappe`` (exactly one), or change one: its status moves
    along draft → submitted → selected → funded (a submitted or selected application may be rejected)."""
    errors: dict[str, str] = {}
    creating = application is None
    programme = str(data.get("programme") or (application.programme if application else ""))
    if programme not in APPLICATION_PROGRAMMES:
        errors["programme"] = "Choisissez un programme."
    call = text(
        data.get("call", application.call if application else None),
        errors,
        "call",
        max_length=200,
        required=True,
        message="Indiquez l'appel (par exemple « Vague 2 – 2026 »).",
        one_line=True,
    )
    status = str(data.get("status") or (application.status if application else "brouillon"))
    if status not in APPLICATION_STATUSES:
        errors["status"] = "Statut inconnu."
    elif creating and status != "brouillon" and status not in ("deposee",):
        errors["status"] = "Une candidature commence en brouillon ou déposée."
    elif not creating and status != application.status and status not in APPLICATION_TRANSITIONS[application.status]:
        errors["status"] = (
            f"Passage impossible de « {APPLICATION_STATUSES[application.status]} » "
            f"à « {APPLICATION_STATUSES[status]} »."
        )
    requested = _amount(data.get("amount_requested"), errors, "amount_requested")
    granted = _amount(data.get("amount_granted"), errors, "amount_granted")
    if granted is not None and status != "financee":
        errors["amount_granted"] = "Le montant accordé se saisit quand la candidature est financée."
    if creating and (structure is None) == (grappe is None):
        errors["programme"] = "Une candidature appartient à une structure ou à une grappe."
    if errors:
        raise ValidationFailed(errors)
    if creating:
        department = grappe.lead.department_code if grappe is not None else structure.department_code
    else:
        department = _application_department(application)
    _require(can_write_in(user, department))
    before = {} if creating else application_payload(application)
    from_status = None if creating else application.status
    if creating:
        application = ProgrammeApplication(
            structure_id=structure.id if structure else None, grappe_id=grappe.id if grappe else None
        )
    application.programme, application.call, application.status = programme, call, status
    application.amount_requested, application.amount_granted = requested, granted
    if creating:
        db.session.add(application)
    db.session.flush()
    after = application_payload(application)
    changes = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v and k != "application_id"}
    if creating or changes:
        record_change(
            entity_type="programme_application",
            entity_id=application.id,
            action="create" if creating else "update",
            changes=changes,
            event_type="application.created" if creating else "application.updated",
            payload=after if creating else {**after, "from_status": from_status},
            user_id=user.id,
            parent=("grappe", application.grappe_id)
            if application.grappe_id
            else ("structure", application.structure_id),
        )
    db.session.commit()
    return application


def applications(*, structure_id: int | None = None, grappe_id: int | None = None) -> list[ProgrammeApplication]:
    query = select(ProgrammeApplication).order_by(ProgrammeApplication.created_at.desc())
    if structure_id:
        query = query.where(ProgrammeApplication.structure_id == structure_id)
    if grappe_id:
        query = query.where(ProgrammeApplication.grappe_id == grappe_id)
    return list(db.session.scalars(query).unique())


# --- Links between structures ----------------------------------------------------------------------------


def link_payload(link: StructureLink) -> dict:
    return {
        "link_id": link.id,
        "structure_a_id": link.structure_a_id,
        "structure_b_id": link.structure_b_id,
        "type_id": link.type_id,
        "type": link.type.code if link.type else None,
    }


def link_types(active_only: bool = True) -> list[StructureLinkType]:
    query = select(StructureLinkType).order_by(StructureLinkType.position, StructureLinkType.label)
    if active_only:
        query = query.where(StructureLinkType.active.is_(True))
    return list(db.session.scalars(query))


def _may_link(user, a: Structure, b: Structure) -> bool:
    return can_write_in(user, a.department_code) or can_write_in(user, b.department_code)


def _existing_link(a_id: int, b_id: int, type_id: int) -> StructureLink | None:
    return db.session.scalar(
        select(StructureLink).where(
            StructureLink.type_id == type_id,
            or_(
                and_(StructureLink.structure_a_id == a_id, StructureLink.structure_b_id == b_id),
                and_(StructureLink.structure_a_id == b_id, StructureLink.structure_b_id == a_id),
            ),
        )
    )


def _create_link(a: Structure, b: Structure, link_type: StructureLinkType, *, user, origin: str | None = None):
    link = StructureLink(structure_a_id=a.id, structure_b_id=b.id, type_id=link_type.id)
    db.session.add(link)
    db.session.flush()
    record_change(
        entity_type="structure_link",
        entity_id=link.id,
        action="create",
        changes={"structure_a_id": [None, a.id], "structure_b_id": [None, b.id], "type_id": [None, link_type.id]},
        event_type="structure_link.created",
        payload={
            "link_id": link.id,
            "structure_a_id": a.id,
            "structure_b_id": b.id,
            "type_id": link_type.id,
            "type": link_type.code,
        },
        user_id=user.id if user else None,
        origin=origin,
        parent=("structure", a.id),
    )
    return link


def add_link(data: dict, *, user) -> StructureLink:
    errors: dict[str, str] = {}
    a = db.session.get(Structure, as_id(data.get("structure_a_id")) or 0)
    b = db.session.get(Structure, as_id(data.get("structure_b_id")) or 0)
    link_type = db.session.get(StructureLinkType, as_id(data.get("type_id")) or 0)
    if a is None:
        errors["structure_a_id"] = "Structure inconnue."
    if b is None:
        errors["structure_b_id"] = "Choisissez la structure liée."
    if link_type is None:
        errors["type_id"] = "Choisissez un type de lien."
    if a is not None and b is not None and a.id == b.id:
        errors["structure_b_id"] = "Une structure ne peut être liée à elle-même."
    if errors:
        raise ValidationFailed(errors)
    _require(_may_link(user, a, b))
    if _existing_link(a.id, b.id, link_type.id) is not None:
        raise ValidationFailed({"structure_b_id": "Ce lien existe déjà."})
    link = _create_link(a, b, link_type, user=user)
    db.session.commit()
    return link


def delete_link(link: StructureLink, *, user) -> None:
    _require(_may_link(user, link.structure_a, link.structure_b))
    payload = link_payload(link)
    record_change(
        entity_type="structure_link",
        entity_id=link.id,
        action="delete",
        changes={},
        event_type="structure_link.deleted",
        payload=payload,
        user_id=user.id,
        parent=("structure", link.structure_a_id),
    )
    db.session.delete(link)
    db.session.commit()


def links_of_structure(structure_id: int) -> list[tuple[StructureLink, Structure]]:
    """The structure's links, each with the structure at the other end."""
    found = db.session.scalars(
        select(StructureLink).where(
            or_(StructureLink.structure_a_id == structure_id, StructureLink.structure_b_id == structure_id)
        )
    ).unique()
    out = [(link, link.structure_b if link.structure_a_id == structure_id else link.structure_a) for link in found]
    return sorted(out, key=lambda pair: (pair[0].type.position, pair[1].name))


def link_direction(link: StructureLink, structure_id: int) -> str:
    """How the link reads from ``structure_id``'s page."""
    return "vers" if link.structure_a_id == structure_id else "depuis"


@dataclass
class LinkImport:
    created: int = 0
    existing: int = 0
    rejects: list[tuple[int, str]] = field(default_factory=list)

    def text(self) -> str:
        out = f"{self.created} lien{'s' if self.created > 1 else ''} créé{'s' if self.created > 1 else ''}, "
        out += f"{self.existing} déjà présent{'s' if self.existing > 1 else ''}"
        if self.rejects:
            s = "s" if len(self.rejects) > 1 else ""
            out += f", {len(self.rejects)} ligne{s} rejetée{s}"
        return out + "."


HEADERS = {
    "structure_a": ("structure_a", "structure a", "finess_a", "id_a", "structure"),
    "structure_b": ("structure_b", "structure b", "finess_b", "id_b", "partenaire"),
    "type": ("type", "type_lien", "type de lien"),
}


class ImportFailed(ValueError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _csv_rows(data: bytes) -> list[list[str]]:
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            content = data.decode("cp1252")
        except UnicodeDecodeError:
            raise ImportFailed("Le fichier n'est pas un texte CSV lisible (UTF-8 attendu).") from None
    sample = content[:5000]
    delimiter = ";" if sample.count(";") >= sample.count(",") else ","
    try:
        rows = list(csv.reader(io.StringIO(content), delimiter=delimiter))
    except csv.Error:
        raise ImportFailed("Le fichier CSV est mal formé (guillemet non fermé ?).") from None
    if len(rows) > MAX_IMPORT_LINES:
        raise ImportFailed(f"Le fichier compte plus de {MAX_IMPORT_LINES} lignes.")
    try:
        for number, cells in enumerate(rows, start=1):
            check_cells(cells, number, max_columns=20)
    except UploadRefused as refused:
        raise ImportFailed(refused.message) from None
    return rows


def _find_structure(value: str) -> Structure | None:
    value = value.strip()
    if not value:
        return None
    if len(value) == 9 and value[:2].isalnum():
        found = db.session.scalar(select(Structure).where(Structure.finess_et == value.upper()))
        if found is not None:
            return found
    structure_id = as_id(value)
    return db.session.get(Structure, structure_id) if structure_id else None


def import_links(data: bytes, *, user) -> LinkImport:
    """Links from a CSV: each side by its FINESS (ET) or CRM id, and the link type (its code or label).

    Lines that cannot be read are listed with their number and reason; the others are created; a link
    already there (either direction) is counted, not repeated: importing the same file twice changes nothing.
    """
    _require(can_write_any(user))
    rows = _csv_rows(data)
    if not rows:
        raise ImportFailed("Le fichier est vide.")
    header = [c.strip().lower() for c in rows[0]]
    columns = {}
    for name, aliases in HEADERS.items():
        for position, cell in enumerate(header):
            if cell in aliases and name not in columns:
                columns[name] = position
    if len(columns) < 3:
        raise ImportFailed(
            "En-tête attendu : structure_a;structure_b;type (FINESS ou identifiant de chaque structure)."
        )
    types = {}
    for t in link_types(active_only=False):
        types[t.code.lower()] = t
        types[t.label.lower()] = t
    summary = LinkImport()
    seen: set[tuple[int, int, int]] = set()
    for number, cells in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in cells):
            continue

        def cell(name, cells=cells):
            position = columns[name]
            return cells[position].strip() if position < len(cells) else ""

        a, b = _find_structure(cell("structure_a")), _find_structure(cell("structure_b"))
        link_type = types.get(cell("type").lower())
        reasons = []
        if a is None:
            reasons.append(f"structure A introuvable ({cell('structure_a') or 'vide'})")
        if b is None:
            reasons.append(f"structure B introuvable ({cell('structure_b') or 'vide'})")
        if link_type is None:
            reasons.append(f"type de lien inconnu ({cell('type') or 'vide'})")
        if a is not None and b is not None and a.id == b.id:
            reasons.append("une structure ne peut être liée à elle-même")
        if not reasons and not _may_link(user, a, b):
            reasons.append("aucune des deux structures n'est dans vos départements")
        if reasons:
            summary.rejects.append((number, "; ".join(reasons)))
            continue
        key = (min(a.id, b.id), max(a.id, b.id), link_type.id)
        if key in seen or _existing_link(a.id, b.id, link_type.id) is not None:
            summary.existing += 1
            continue
        seen.add(key)
        _create_link(a, b, link_type, user=user, origin="import")
        summary.created += 1
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ImportFailed("Import interrompu par un import simultané : relancez-le.") from None
    return summary


# --- Mesh strategy ---------------------------------------------------------------------------------------


MESH_LIMIT = 200


class Linked(NamedTuple):
    """A structure using the offer, as the mesh shows it (its id and name: no whole row per link)."""

    id: int
    name: str


@dataclass
class MeshTarget:
    structure: Structure
    via: list[tuple[Linked, str]]  # the linked structures using the offer, with the link's type label
    users: int = 0  # distinct structures using the offer among them (a pair linked twice counts once)


def mesh_targets(offer_id: int, department: str | None = None, limit: int | None = MESH_LIMIT, offset: int = 0):
    """(targets, total): the open partners of the structures using the offer that do not use it yet (in
    ``department`` if given), those linked to the most users first; ``limit`` rows at most (None: all) from
    ``offset``.

    Set-based: the users stay in SQL (a subquery), and a whole list's targets too: no list of ids is sent back
    as parameters, whatever the number of users or targets."""
    pairs = _pairs()
    using = _using_offer(offer_id)
    condition = [
        pairs.c.partner_id.in_(using),
        pairs.c.structure_id.not_in(using),
        Structure.is_open.is_(True),
    ]
    if department:
        condition.append(Structure.department_code == department)
    n_users = func.count(distinct(pairs.c.partner_id))
    ranked = (
        select(Structure.id, n_users.label("n"), func.count().over().label("total"))
        .join(pairs, pairs.c.structure_id == Structure.id)
        .where(*condition)
        .group_by(Structure.id, Structure.department_code, Structure.name)
        .order_by(n_users.desc(), Structure.department_code, Structure.name, Structure.id)
    )
    if limit:
        ranked = ranked.limit(limit).offset(offset)
    found = db.session.execute(ranked).all()
    if not found:
        if offset:  # past the last page: the total still says how many there are
            return [], db.session.scalar(select(func.count()).select_from(ranked.limit(None).offset(None).subquery()))
        return [], 0
    total = found[0].total
    order = [row.id for row in found]
    users = {row.id: row.n for row in found}
    # The targets' rows and their links to users: by the page's ids (a few hundred), or for a whole list by
    # the ranking itself as a subquery.
    chosen = order if limit else select(ranked.subquery().c.id)
    targets = {s.id: s for s in db.session.scalars(select(Structure).where(Structure.id.in_(chosen)))}
    via: dict[int, list[tuple[Linked, str]]] = defaultdict(list)
    link_pairs = _pairs()
    user = aliased(Structure)
    for structure_id, label, user_id, user_name in db.session.execute(
        select(link_pairs.c.structure_id, StructureLinkType.label, user.id, user.name)
        .join(StructureLinkType, StructureLinkType.id == link_pairs.c.type_id)
        .join(user, user.id == link_pairs.c.partner_id)
        .where(link_pairs.c.structure_id.in_(chosen), link_pairs.c.partner_id.in_(_using_offer(offer_id)))
        .order_by(user.name, user.id, StructureLinkType.label)
    ):
        via[structure_id].append((Linked(user_id, user_name), label))
    out = [MeshTarget(targets[i], via[i], users[i]) for i in order if i in targets]
    return out, total


def mesh_table(offer: Offer, department: str | None) -> ExportTable:
    """The mesh strategy's whole list as an export (a visit list)."""
    targets, _total = mesh_targets(offer.id, department, limit=None)
    return ExportTable(
        title=f"Stratégie de maillage – {offer.label}",
        header=(
            "FINESS",
            "Structure",
            "Commune",
            "Département",
            "Catégorie",
            "Structures utilisatrices liées",
            "Liée à",
        ),
        rows=[
            (
                t.structure.finess_et or "",
                t.structure.name,
                t.structure.commune or "",
                t.structure.department_code,
                t.structure.category.label if t.structure.category else "",
                t.users,
                ", ".join(f"{s.name} ({label})" for s, label in t.via),
            )
            for t in targets
        ],
        context=[("Offre", offer.label), ("Département du partenaire", department or "tous")],
    )


def referents_table(offer: Offer | None, department: str | None) -> ExportTable:
    """The active référents as an export. Their e-mail and phone only where they accept to be contacted
    (the contact's consent, RGPD): the list is for reaching them."""
    rows = referents(offer_id=offer.id if offer else None, department=department)
    return ExportTable(
        title="Référents en fonction" + (f" – {offer.label}" if offer else ""),
        header=(
            "Offre",
            "Nom",
            "Prénom",
            "Fonction",
            "Accepte d'être contacté(e)",
            "E-mail",
            "Téléphone",
            "Structure",
            "FINESS",
            "Département",
            "Depuis",
        ),
        rows=[
            (
                r.offer.label,
                r.contact.last_name,
                r.contact.first_name,
                r.contact.function or "",
                "oui" if r.contact.consent else "non",
                (r.contact.email or "") if r.contact.consent else "",
                (r.contact.phone or "") if r.contact.consent else "",
                r.structure.name,
                r.structure.finess_et or "",
                r.structure.department_code,
                r.started_on,
            )
            for r in rows
        ],
        context=[
            ("Offre", offer.label if offer else "toutes"),
            ("Département", department or "tous"),
            ("Coordonnées", "seulement des référents qui acceptent d'être contactés (RGPD)"),
        ],
    )


# --- The structure's page --------------------------------------------------------------------------------


@dataclass
class StructureNetworks:
    referents: list
    links: list
    applications: list
    grappes: list
    can_write: bool


def structure_networks(structure: Structure, user) -> StructureNetworks:
    """What the structure's 360° page shows of its networks (its section "Réseaux")."""
    member_of = list(
        db.session.scalars(
            select(Grappe)
            .join(grappe_members, grappe_members.c.grappe_id == Grappe.id)
            .where(grappe_members.c.structure_id == structure.id)
            .order_by(Grappe.name)
        ).unique()
    )
    return StructureNetworks(
        referents=referents_of_structure(structure.id),
        links=links_of_structure(structure.id),
        applications=applications(structure_id=structure.id),
        grappes=member_of,
        can_write=can_write_in(user, structure.department_code),
    )
