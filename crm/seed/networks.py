"""Demo networks (issue 14): référents of a few offers, a partner network around the SPICO users (DAC, CRT,
CPTS and their partners, seed 004's mesh strategy), two grappes (one formed after a Rendez-vous ESMS
numérique its lead attended, one not) and a few applications to national programmes.

Small and direct: a few hundred rows at most, each with its audit entry and domain event (``record_change``);
the seed's history is then marked processed with the rest. Idempotent: nothing is added when grappes exist.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from crm.accounts.models import User
from crm.events.models import Event, EventType, Registration
from crm.networks.models import Grappe, ProgrammeApplication, Referent, StructureLink, StructureLinkType
from crm.networks.services import grappe_payload, uses_offer
from crm.platform.dates import local_date, local_today
from crm.platform.events import record_change
from crm.platform.extensions import db
from crm.referential.models import Category, Offer, Sector
from crm.structures.models import Contact, Structure

HUB_LINK = {"DAC": "partenaire_dac", "CRT": "partenaire_crt", "CPTS": "partenaire_cpts"}
PARTNER_CATEGORIES = ("EHPAD", "SSIAD", "SAAD", "SPASAD", "HAD", "MSP", "CDS", "SMR", "CH")
REFERENT_OFFERS = ("SPICO_DOSSIERS", "VT_GRAND_AGE", "INS", "CYBER_SENSIBILISATION")
MAX_HUBS = 14
PARTNERS_PER_HUB = (3, 6)
MAX_REFERENTS = 60


def _record(entity_type: str, entity_id: int, event_type: str, payload: dict, user_id: int | None, parent=None):
    record_change(
        entity_type=entity_type,
        entity_id=entity_id,
        action="create",
        changes={},
        event_type=event_type,
        payload=payload,
        user_id=user_id,
        origin="seed",
        parent=parent,
    )


def seed_networks(department_codes: list[str]) -> list[str]:
    if db.session.scalar(select(func.count()).select_from(Grappe)):
        return ["Réseaux : déjà présents."]
    rng = random.Random(14)
    admin_id = db.session.scalar(select(User.id).where(User.role == "admin").order_by(User.id))
    links = _links(department_codes, rng, admin_id)
    referents = _referents(department_codes, rng, admin_id)
    grappes, applications = _grappes(department_codes, rng, admin_id)
    db.session.commit()
    return [
        f"Réseaux : {links} liens entre structures, {referents} référents, {grappes} grappes, "
        f"{applications} candidatures aux programmes nationaux."
    ]


def _by_category(codes, department_codes) -> list[Structure]:
    return list(
        db.session.scalars(
            select(Structure)
            .join(Category, Category.id == Structure.category_id)
            .where(
                Category.code.in_(codes),
                Structure.department_code.in_(department_codes),
                Structure.is_open.is_(True),
            )
            .order_by(Structure.id)
        )
    )


def _links(department_codes, rng, admin_id) -> int:
    types = {t.code: t for t in db.session.scalars(select(StructureLinkType))}
    hubs = _by_category(tuple(HUB_LINK), department_codes)
    if not hubs or not types:
        return 0
    spico = db.session.scalar(select(Offer.id).where(Offer.code == "SPICO_DOSSIERS"))
    users = uses_offer([h.id for h in hubs], spico) if spico else set()
    # The SPICO users first: the mesh strategy reaches their partners.
    hubs = sorted(hubs, key=lambda h: (h.id not in users, h.id))[:MAX_HUBS]
    partners_by_department: dict[str, list[Structure]] = {}
    for structure in _by_category(PARTNER_CATEGORIES, department_codes):
        partners_by_department.setdefault(structure.department_code, []).append(structure)
    count, seen = 0, set()
    for hub in hubs:
        pool = partners_by_department.get(hub.department_code, [])
        link_type = types.get(HUB_LINK[hub.category.code])
        if not pool or link_type is None:
            continue
        for partner in rng.sample(pool, min(len(pool), rng.randint(*PARTNERS_PER_HUB))):
            key = (partner.id, hub.id, link_type.id)
            if key in seen:
                continue
            seen.add(key)
            link = StructureLink(structure_a_id=partner.id, structure_b_id=hub.id, type_id=link_type.id)
            db.session.add(link)
            db.session.flush()
            payload = {
                "link_id": link.id,
                "structure_a_id": partner.id,
                "structure_b_id": hub.id,
                "type_id": link_type.id,
                "type": link_type.code,
            }
            _record("structure_link", link.id, "structure_link.created", payload, admin_id, ("structure", partner.id))
            count += 1
    # A hospital member of a GHT led by a CHU, when both are there.
    chus = _by_category(("CHU",), department_codes)[:1]
    chs = _by_category(("CH",), department_codes)[:3]
    ght = types.get("membre_ght")
    for ch in chs if chus and ght else []:
        link = StructureLink(structure_a_id=ch.id, structure_b_id=chus[0].id, type_id=ght.id)
        db.session.add(link)
        db.session.flush()
        payload = {
            "link_id": link.id,
            "structure_a_id": ch.id,
            "structure_b_id": chus[0].id,
            "type_id": ght.id,
            "type": ght.code,
        }
        _record("structure_link", link.id, "structure_link.created", payload, admin_id, ("structure", ch.id))
        count += 1
    return count


def _referents(department_codes, rng, admin_id) -> int:
    offers = list(db.session.scalars(select(Offer).where(Offer.code.in_(REFERENT_OFFERS))))
    if not offers:
        return 0
    contacts = list(
        db.session.scalars(
            select(Contact)
            .join(Structure, Structure.id == Contact.structure_id)
            .join(Sector, Sector.id == Structure.sector_id)
            .where(
                Structure.department_code.in_(department_codes),
                Contact.erased_at.is_(None),
                Contact.email.is_not(None),
                Sector.code.in_(("medico_social", "sanitaire", "dispositif_coordination")),
            )
            .order_by(Contact.id)
            .limit(MAX_REFERENTS * 3)
        )
    )
    today = local_today()
    count = 0
    for contact in rng.sample(contacts, min(len(contacts), MAX_REFERENTS)):
        offer = rng.choice(offers)
        referent = Referent(
            contact_id=contact.id,
            structure_id=contact.structure_id,
            offer_id=offer.id,
            started_on=today - timedelta(days=rng.randint(30, 700)),
        )
        db.session.add(referent)
        db.session.flush()
        payload = {
            "referent_id": referent.id,
            "contact_id": contact.id,
            "structure_id": contact.structure_id,
            "department": contact.structure.department_code,
            "offer_id": offer.id,
            "started_on": referent.started_on,
            "ended_on": None,
        }
        _record("referent", referent.id, "referent.named", payload, admin_id, ("structure", contact.structure_id))
        count += 1
    return count


def _grappes(department_codes, rng, admin_id) -> tuple[int, int]:
    medico = _by_category(("EHPAD", "IME", "MAS", "FAM", "SSIAD", "ESAT", "SESSAD"), department_codes)
    if len(medico) < 8:
        return 0, 0
    # A structure that attended a Rendez-vous ESMS numérique: its grappe forms a few weeks later.
    attended = db.session.execute(
        select(Registration.structure_id, func.min(Event.starts_at))
        .join(Event, Event.id == Registration.event_id)
        .join(EventType, EventType.id == Event.type_id)
        .where(
            EventType.code == "rdv_esms_numerique",
            Registration.status == "present",
            Registration.structure_id.in_([s.id for s in medico]),
        )
        .group_by(Registration.structure_id)
        .order_by(Registration.structure_id)
        .limit(1)
    ).first()
    by_id = {s.id: s for s in medico}
    attendees = set(
        db.session.scalars(
            select(Registration.structure_id)
            .join(Event, Event.id == Registration.event_id)
            .join(EventType, EventType.id == Event.type_id)
            .where(EventType.code == "rdv_esms_numerique", Registration.structure_id.is_not(None))
        )
    )
    today = local_today()
    plans = []
    if attended is not None:
        lead = by_id[attended[0]]
        created_on = min(today, local_date(attended[1]) + timedelta(days=21))
        others = [s for s in medico if s.department_code == lead.department_code and s.id != lead.id][:4]
        plans.append((f"Grappe ESMS numérique {lead.commune or lead.department_code}", lead, others, created_on))
    quiet = [s for s in medico if s.id not in attendees and (attended is None or s.id != attended[0])]
    if len(quiet) >= 4:
        lead = quiet[0]
        others = [s for s in quiet[1:] if s.department_code == lead.department_code][:3] or quiet[1:4]
        plans.append(
            (f"Grappe médico-sociale {lead.commune or lead.department_code}", lead, others, today - timedelta(days=45))
        )
    grappes = []
    for name, lead, others, created_on in plans:
        grappe = Grappe(name=name[:200], lead_structure_id=lead.id, status="constituee", created_on=created_on)
        grappe.lead = lead
        grappe.members = [lead, *others]
        db.session.add(grappe)
        db.session.flush()
        _record("grappe", grappe.id, "grappe.created", grappe_payload(grappe), admin_id)
        grappes.append(grappe)
    applications = 0
    specs = []
    if grappes:
        specs.append(("esms_numerique", "Vague 2 – 2025", "financee", 180000, 150000, grappes[0], None))
    if len(grappes) > 1:
        specs.append(("esms_numerique", "Vague 1 – 2026", "brouillon", 120000, None, grappes[1], None))
    hospitals = _by_category(("CH", "CHU", "CLINIQUE"), department_codes)
    if hospitals:
        specs.append(("sun_es", "SUN-ES volet 2 – 2026", "deposee", 60000, None, None, hospitals[0]))
    if len(hospitals) > 1:
        specs.append(("sons", "SONS – 2026", "retenue", 45000, None, None, hospitals[1]))
    for programme, call, status, requested, granted, grappe, structure in specs:
        application = ProgrammeApplication(
            programme=programme,
            call=call,
            status=status,
            amount_requested=Decimal(requested),
            amount_granted=Decimal(granted) if granted else None,
            grappe_id=grappe.id if grappe else None,
            structure_id=structure.id if structure else None,
        )
        db.session.add(application)
        db.session.flush()
        payload = {
            "application_id": application.id,
            "programme": programme,
            "call": call,
            "status": status,
            "structure_id": application.structure_id,
            "grappe_id": application.grappe_id,
            "amount_requested": application.amount_requested,
            "amount_granted": application.amount_granted,
        }
        parent = ("grappe", grappe.id) if grappe else ("structure", structure.id)
        _record("programme_application", application.id, "application.created", payload, admin_id, parent)
        applications += 1
    return len(grappes), applications
