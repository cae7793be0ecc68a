"""Networks at the ``region`` and ``national`` scales (issue 14): in every department of the scale, the
référents of several offers (about two structures in five among those with contacts), the partner network of
each DAC, CRT and CPTS, the GHT of the hospitals, a few collectivités and an association of patient
representatives as partners (created earlier in the seed by ``seed_network_partners``, before the contacts),
grappes of ESMS (a few per department, some formed after a Rendez-vous ESMS
numérique one of their structures attended, some not) and applications to national programmes.

Written in bulk as an import would: ids drawn ahead, rows by COPY on PostgreSQL (``crm.seed.loader``), each
record with the audit entry and the domain event its service writes (same event types, payloads and audit
changes as ``crm.networks.services``; origin "seed"). The events are left unprocessed, as ``record_change``
leaves them: the seed marks its history processed and rebuilds the indicators afterwards.

Idempotent per department: a department where a référent, a grappe or a link already exists is left as it
is, so seeding again adds nothing and a larger scale after a smaller one fills only the new departments.
The Rendez-vous ESMS numérique are held in the configured region only (``crm.seed.events``): elsewhere no
grappe is attributed to them.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select, union

from crm.events.models import Event, EventType, Registration
from crm.networks.models import (
    Grappe,
    ProgrammeApplication,
    Referent,
    StructureLink,
    StructureLinkType,
    grappe_members,
)
from crm.networks.services import RDV_ESMS_NUMERIQUE
from crm.platform.dates import local_date, local_today
from crm.platform.event_types import require_known
from crm.platform.events import note_outbox_written
from crm.platform.extensions import db
from crm.platform.formatting import format_number
from crm.platform.models import AuditEntry, OutboxEvent, utcnow
from crm.referential.models import Category, Department, Offer, Sector
from crm.seed.bulk import insert_structures
from crm.seed.loader import copy_rows, reserve_ids
from crm.seed.partners import title_commune
from crm.structures.models import Contact, Structure

# Who partners with a hub, by the hub's category, and how many partners it has (before the department's size).
HUB_PARTNERS = {
    "DAC": (
        "partenaire_dac",
        ("EHPAD", "SSIAD", "SAAD", "SPASAD", "HAD", "SMR", "CH", "CHU", "CLINIQUE", "MSP", "CDS", "CPTS", "PSY"),
        (10, 30),
    ),
    "CPTS": ("partenaire_cpts", ("MSP", "CDS", "EHPAD", "SSIAD", "SAAD", "SPASAD", "HAD", "OFFICINE", "LBM"), (6, 16)),
    "CRT": ("partenaire_crt", ("EHPAD", "SSIAD", "SAAD", "SPASAD", "HAD", "CH"), (5, 12)),
}
INSTITUTIONAL = ("COLLECTIVITE", "REPRESENTANT_USAGERS")  # partner categories FINESS does not list
GHT_LEADS = ("CHU", "CH")  # the support hospital of a department's GHT: its CHU, else its first CH
GHT_MEMBERS = ("CH", "PSY", "SMR", "HAD")
GHT_MEMBER_SHARE = {"CH": 1.0, "PSY": 1.0, "SMR": 0.3, "HAD": 0.3}
# Référents: the offers each profile of structure names one for.
REFERENT_OFFERS = {
    "grand_age": ("VT_GRAND_AGE", "SPICO_DOSSIERS", "INS", "CYBER_SENSIBILISATION", "MSSANTE"),
    "medico_social": ("SPICO_DOSSIERS", "INS", "CYBER_SENSIBILISATION", "MSSANTE"),
    "sanitaire": ("VT_SANITAIRE", "INS", "CYBER_SENSIBILISATION", "MSSANTE", "DMP"),
    "dispositif_coordination": ("SPICO_DOSSIERS", "INS", "MSSANTE"),
}
GRAND_AGE = ("EHPAD", "RA", "SSIAD", "SAAD", "SPASAD")
REFERENT_SHARE = 0.4  # of the structures with a contact
SECOND_OFFER_SHARE = 0.3
ENDED_SHARE = 0.06
# Grappes: the ESMS that apply together, and the statuses they reach.
GRAPPE_CATEGORIES = ("EHPAD", "IME", "ITEP", "MAS", "FAM", "SSIAD", "SPASAD", "ESAT", "SESSAD", "SAMSAH", "SAVS")
GRAPPE_STATUSES = (("en_constitution", 0.15), ("constituee", 0.3), ("candidate", 0.3), ("financee", 0.2))
ESMS_PER_GRAPPE = 60  # about one grappe per 60 ESMS of a department, 2 to 6
ATTRIBUTED_PER_DEPARTMENT = 3  # grappes led by a Rendez-vous attendee, formed a few weeks after it
HOSPITALS = ("CH", "CHU", "CLINIQUE", "SMR", "HAD", "PSY")
SUN_ES_SHARE = 0.12
SONS_SHARE = 0.05
APPLICATION_STATUSES = (("brouillon", 0.2), ("deposee", 0.3), ("retenue", 0.2), ("financee", 0.2), ("rejetee", 0.1))

REFERENT_COLUMNS = ("id", "contact_id", "structure_id", "offer_id", "started_on", "ended_on", "created_at")
GRAPPE_COLUMNS = ("id", "name", "lead_structure_id", "status", "created_on", "created_at")
APPLICATION_COLUMNS = (
    "id",
    "programme",
    "call",
    "status",
    "amount_requested",
    "amount_granted",
    "structure_id",
    "grappe_id",
    "created_at",
    "updated_at",
)
LINK_COLUMNS = ("id", "structure_a_id", "structure_b_id", "type_id", "created_at")
AUDIT_COLUMNS = (
    "at",
    "user_id",
    "origin",
    "entity_type",
    "entity_id",
    "action",
    "changes",
    "parent_type",
    "parent_id",
)
OUTBOX_COLUMNS = ("type", "aggregate_type", "aggregate_id", "payload", "actor_id", "created_at", "attempts")


@dataclass(slots=True)
class Ref:
    id: int
    name: str
    department: str
    category: str | None
    sector: str | None
    commune: str | None


def _euros(amount) -> Decimal | None:
    return None if amount is None else Decimal(str(amount)).quantize(Decimal("0.01"))


def _pick(rng: random.Random, shares) -> str:
    draw = rng.random()
    for value, share in shares:
        if draw < share:
            return value
        draw -= share
    return shares[-1][0]


class Journal:
    """The audit entries and outbox events of the seeded networks, as ``record_change`` writes them."""

    def __init__(self, now):
        self.now = now
        self.audits: list[tuple] = []
        self.events: list[tuple] = []

    def record(self, entity_type, entity_id, action, changes, event_type, payload, parent=None) -> None:
        require_known(event_type)
        self.audits.append(
            (
                self.now,
                None,
                "seed",
                entity_type,
                entity_id,
                action,
                changes,
                parent[0] if parent else None,
                parent[1] if parent else None,
            )
        )
        self.events.append((event_type, entity_type, entity_id, payload, None, self.now, 0))

    def write(self) -> None:
        copy_rows(AuditEntry.__table__, AUDIT_COLUMNS, self.audits)
        copy_rows(OutboxEvent.__table__, OUTBOX_COLUMNS, self.events)
        if self.events:
            note_outbox_written()


def seeded_departments(department_codes: list[str]) -> set[str]:
    """The departments that already have référents, grappes or links."""
    sides = (
        select(Structure.department_code).join(Referent, Referent.structure_id == Structure.id),
        select(Structure.department_code).join(Grappe, Grappe.lead_structure_id == Structure.id),
        select(Structure.department_code).join(StructureLink, StructureLink.structure_a_id == Structure.id),
        select(Structure.department_code).join(StructureLink, StructureLink.structure_b_id == Structure.id),
    )
    found = set(db.session.scalars(union(*sides)))
    return found & set(department_codes)


def seed_network_partners(department_codes: list[str]) -> int:
    """A collectivité or two and an association of patient representatives in each department with a DAC,
    CRT or CPTS, entered as FINESS-less partners are (``structure.created`` and its audit entry); run before
    the contacts so that they get theirs as the other partners do. Those already there are not added again."""
    known = set(db.session.scalars(select(Category.code).where(Category.code.in_(INSTITUTIONAL))))
    if not known:
        return 0
    hubs: dict[str, set[str]] = defaultdict(set)
    for dep, commune in db.session.execute(
        select(Structure.department_code, Structure.commune)
        .join(Category, Category.id == Structure.category_id)
        .where(
            Category.code.in_(tuple(HUB_PARTNERS)),
            Structure.department_code.in_(department_codes),
            Structure.is_open.is_(True),
        )
    ):
        hubs[dep].add(commune or "")
    existing = set(
        db.session.execute(
            select(Structure.department_code, Structure.name)
            .join(Category, Category.id == Structure.category_id)
            .where(Category.code.in_(INSTITUTIONAL), Structure.department_code.in_(department_codes))
        ).all()
    )
    names = dict(db.session.execute(select(Department.code, Department.name)).all())
    rows = []
    for dep in sorted(hubs):
        rng = random.Random(f"networks-institutions-{dep}")
        communes = sorted(c for c in hubs[dep] if c)
        if "COLLECTIVITE" in known:
            for commune in rng.sample(communes, min(len(communes), rng.randint(1, 2))):
                kind = rng.choice(("Communauté d'agglomération", "Communauté de communes"))
                rows.append(
                    {
                        "name": f"{kind} {title_commune(commune)}",
                        "department_code": dep,
                        "category": "COLLECTIVITE",
                        "commune": commune,
                    }
                )
        if "REPRESENTANT_USAGERS" in known:
            rows.append(
                {
                    "name": f"Association des usagers de santé – {names.get(dep, dep)}",
                    "department_code": dep,
                    "category": "REPRESENTANT_USAGERS",
                    "commune": communes[0] if communes else None,
                }
            )
    rows = [row for row in rows if (row["department_code"], row["name"]) not in existing]
    if rows:
        insert_structures(rows, origin="seed")
        note_outbox_written()
        db.session.commit()
    return len(rows)


def seed_networks_at_scale(department_codes: list[str]) -> list[str]:
    todo = sorted(set(department_codes) - seeded_departments(department_codes))
    if not todo:
        return ["Réseaux : déjà présents."]
    seeder = NetworkSeeder(todo)
    seeder.run()
    db.session.commit()
    return seeder.report()


class NetworkSeeder:
    def __init__(self, department_codes: list[str]):
        self.departments = department_codes
        self.today = local_today()
        self.journal = Journal(utcnow())
        self.counts: dict[str, int] = defaultdict(int)
        self.link_types = {t.code: t for t in db.session.scalars(select(StructureLinkType))}
        self.offers = dict(db.session.execute(select(Offer.code, Offer.id).where(Offer.active.is_(True))).all())
        self.department_names = dict(db.session.execute(select(Department.code, Department.name)).all())
        self._load_structures()

    def _load_structures(self) -> None:
        categories = dict(db.session.execute(select(Category.id, Category.code)).all())
        sectors = dict(db.session.execute(select(Sector.id, Sector.code)).all())
        self.by_department: dict[str, dict[str, list[Ref]]] = defaultdict(lambda: defaultdict(list))
        self.refs: dict[int, Ref] = {}
        for sid, name, dep, category_id, sector_id, commune in db.session.execute(
            select(
                Structure.id,
                Structure.name,
                Structure.department_code,
                Structure.category_id,
                Structure.sector_id,
                Structure.commune,
            )
            .where(Structure.department_code.in_(self.departments), Structure.is_open.is_(True))
            .order_by(Structure.id)
        ):
            ref = Ref(sid, name, dep, categories.get(category_id), sectors.get(sector_id), commune)
            self.refs[sid] = ref
            self.by_department[dep][ref.category].append(ref)

    def _rng(self, part: str, department: str) -> random.Random:
        return random.Random(f"networks-{part}-{department}")

    # --- the steps -------------------------------------------------------------------------------------

    def run(self) -> None:
        self._links()
        self._referents()
        self._grappes()
        self._structure_applications()
        self.journal.write()

    def report(self) -> list[str]:
        c, n = self.counts, len(self.departments)
        return [
            f"Réseaux ({n} département{'s' if n > 1 else ''}) : {format_number(c['links'])} liens entre structures "
            f"(dont {format_number(c['ght'])} membres de GHT et {format_number(c['institutional'])} de "
            f"collectivités ou d'associations d'usagers), "
            f"{format_number(c['referents'])} référents, {format_number(c['grappes'])} grappes "
            f"({format_number(c['attributed'])} après un Rendez-vous ESMS numérique), "
            f"{format_number(c['applications'])} candidatures aux programmes nationaux."
        ]

    def _links(self) -> None:
        planned: list[tuple[int, int, str]] = []  # (a: the partner or member, b: the hub or GHT lead, type code)
        for dep in self.departments:
            structures = self.by_department[dep]
            rng = self._rng("links", dep)
            size = sum(len(refs) for refs in structures.values())
            for hub_category, (type_code, partner_categories, (low, high)) in HUB_PARTNERS.items():
                if type_code not in self.link_types:
                    continue
                pool = [s for code in partner_categories for s in structures.get(code, [])]
                for hub in structures.get(hub_category, []):
                    candidates = [s for s in pool if s.id != hub.id]
                    # A department of 500 structures gives its hubs about twice the partners of one of 150.
                    wanted = round(rng.randint(low, high) * min(2.0, max(0.7, size / 250)))
                    for partner in rng.sample(candidates, min(len(candidates), wanted)):
                        planned.append((partner.id, hub.id, type_code))
            # The partners of the territory's coordination: collectivités with a CPTS of their commune (or any),
            # patient representatives with the DAC and two CPTS; with whichever hub there is when those are
            # missing, so that every partner created here is linked (and its department counts as seeded).
            cpts, dacs = structures.get("CPTS", []), structures.get("DAC", [])
            hubs = [(h, HUB_PARTNERS[code][0]) for code in HUB_PARTNERS for h in structures.get(code, [])]
            for collectivite in structures.get("COLLECTIVITE", []):
                near = [c for c in cpts if c.commune == collectivite.commune] or cpts
                chosen = [(hub, "partenaire_cpts") for hub in near[:2]] or hubs[:1]
                planned += [(collectivite.id, hub.id, type_code) for hub, type_code in chosen]
            for association in structures.get("REPRESENTANT_USAGERS", []):
                chosen = [(hub, "partenaire_dac") for hub in dacs[:1]]
                chosen += [(hub, "partenaire_cpts") for hub in rng.sample(cpts, min(len(cpts), 2))]
                planned += [(association.id, hub.id, type_code) for hub, type_code in chosen or hubs[:1]]
            lead = next((s for code in GHT_LEADS for s in structures.get(code, [])), None)
            if lead is not None:
                for code in GHT_MEMBERS:
                    for member in structures.get(code, []):
                        if member.id != lead.id and rng.random() < GHT_MEMBER_SHARE[code]:
                            planned.append((member.id, lead.id, "membre_ght"))
        seen, links = set(), []
        for a, b, type_code in planned:
            link_type = self.link_types.get(type_code)
            key = (min(a, b), max(a, b), type_code)
            if link_type is None or key in seen:
                continue
            seen.add(key)
            links.append((a, b, link_type))
        ids = reserve_ids(StructureLink.__table__, len(links))
        now = self.journal.now
        copy_rows(
            StructureLink.__table__,
            LINK_COLUMNS,
            [(link_id, a, b, t.id, now) for link_id, (a, b, t) in zip(ids, links)],
        )
        for link_id, (a, b, link_type) in zip(ids, links):
            self.journal.record(
                "structure_link",
                link_id,
                "create",
                {"structure_a_id": [None, a], "structure_b_id": [None, b], "type_id": [None, link_type.id]},
                "structure_link.created",
                {
                    "link_id": link_id,
                    "structure_a_id": a,
                    "structure_b_id": b,
                    "type_id": link_type.id,
                    "type": link_type.code,
                },
                ("structure", a),
            )
            self.counts["links"] += 1
            self.counts["ght"] += link_type.code == "membre_ght"
            self.counts["institutional"] += self.refs[a].category in INSTITUTIONAL

    def _referents(self) -> None:
        offers = {
            profile: [self.offers[code] for code in codes if code in self.offers]
            for profile, codes in REFERENT_OFFERS.items()
        }
        contacts: dict[int, list[int]] = defaultdict(list)
        for contact_id, structure_id in db.session.execute(
            select(Contact.id, Contact.structure_id)
            .join(Structure, Structure.id == Contact.structure_id)
            .where(
                Structure.department_code.in_(self.departments),
                Structure.is_open.is_(True),
                Contact.erased_at.is_(None),
                Contact.email.is_not(None),
            )
            .order_by(Contact.id)
        ):
            contacts[structure_id].append(contact_id)
        rows = []  # (contact, structure, offer, started_on, ended_on)
        for dep in self.departments:
            rng = self._rng("referents", dep)
            structures = sorted(
                (s for refs in self.by_department[dep].values() for s in refs if s.id in contacts),
                key=lambda s: s.id,
            )
            for structure in structures:
                profile = structure.sector
                if profile == "medico_social" and structure.category in GRAND_AGE:
                    profile = "grand_age"
                pool = offers.get(profile or "")
                if not pool or rng.random() >= REFERENT_SHARE:
                    continue
                count = 2 if rng.random() < SECOND_OFFER_SHARE and len(pool) > 1 else 1
                for offer_id in rng.sample(pool, count):
                    started_on = self.today - timedelta(days=rng.randint(30, 900))
                    ended_on = None
                    if rng.random() < ENDED_SHARE:
                        ended_on = min(
                            self.today - timedelta(days=1), started_on + timedelta(days=rng.randint(60, 400))
                        )
                    rows.append((rng.choice(contacts[structure.id]), structure.id, offer_id, started_on, ended_on))
        ids = reserve_ids(Referent.__table__, len(rows))
        now = self.journal.now
        copy_rows(
            Referent.__table__,
            REFERENT_COLUMNS,
            [(rid, c, s, o, started, ended, now) for rid, (c, s, o, started, ended) in zip(ids, rows)],
        )
        for referent_id, (contact_id, structure_id, offer_id, started_on, ended_on) in zip(ids, rows):
            payload = {
                "referent_id": referent_id,
                "contact_id": contact_id,
                "structure_id": structure_id,
                "department": self.refs[structure_id].department,
                "offer_id": offer_id,
                "started_on": started_on.isoformat(),
                "ended_on": None,
            }
            self.journal.record(
                "referent",
                referent_id,
                "create",
                {
                    "offer_id": [None, offer_id],
                    "contact_id": [None, contact_id],
                    "started_on": [None, started_on.isoformat()],
                },
                "referent.named",
                payload,
                ("structure", structure_id),
            )
            if ended_on is not None:
                self.journal.record(
                    "referent",
                    referent_id,
                    "update",
                    {"ended_on": [None, ended_on.isoformat()]},
                    "referent.ended",
                    {**payload, "ended_on": ended_on.isoformat()},
                    ("structure", structure_id),
                )
        self.counts["referents"] = len(rows)

    def _first_attendances(self) -> dict[int, date]:
        """Each structure's first Rendez-vous ESMS numérique attended (status present), by day."""
        first: dict[int, date] = {}
        for structure_id, starts_at in db.session.execute(
            select(Registration.structure_id, func.min(Event.starts_at))
            .join(Event, Event.id == Registration.event_id)
            .join(EventType, EventType.id == Event.type_id)
            .where(
                EventType.code == RDV_ESMS_NUMERIQUE,
                Registration.status == "present",
                Registration.structure_id.is_not(None),
            )
            .group_by(Registration.structure_id)
            .order_by(Registration.structure_id)
        ):
            if structure_id in self.refs:
                first[structure_id] = local_date(starts_at)
        return first

    def _grappes(self) -> None:
        attended = self._first_attendances()
        plans = []  # (name, lead, members, status, created_on, attributed)
        for dep in self.departments:
            rng = self._rng("grappes", dep)
            esms = [s for code in GRAPPE_CATEGORIES for s in self.by_department[dep].get(code, [])]
            esms.sort(key=lambda s: s.id)
            if len(esms) < 8:
                continue
            taken: set[int] = set()

            def members(lead, k, rng=rng, esms=esms, taken=taken):
                free = [s for s in esms if s.id not in taken and s.id != lead.id and s.id not in attended]
                chosen = rng.sample(free, min(len(free), k))
                taken.update([lead.id, *(s.id for s in chosen)])
                return chosen

            def created_between(start: date, end: date, rng=rng) -> date:
                end = min(end, self.today)
                return start + timedelta(days=rng.randint(0, max(0, (end - start).days)))

            # Led by a structure that attended a Rendez-vous: formed two to ten weeks after it.
            attendees = sorted((s for s in esms if s.id in attended), key=lambda s: (attended[s.id], s.id))
            for lead in attendees[:ATTRIBUTED_PER_DEPARTMENT]:
                day = attended[lead.id]
                created_on = min(self.today, created_between(day + timedelta(days=14), day + timedelta(days=70)))
                others = members(lead, rng.randint(3, 7))
                if len(others) >= 2:  # a grappe gathers three structures at least
                    plans.append((lead, others, created_on, True))
            # A structure that attended only after its grappe formed: not attributed to the Rendez-vous.
            for late in attendees[ATTRIBUTED_PER_DEPARTMENT : ATTRIBUTED_PER_DEPARTMENT + 1]:
                free = [s for s in esms if s.id not in taken and s.id not in attended]
                if not free:
                    break
                lead = free[0]
                day = attended[late.id]
                created_on = day - timedelta(days=rng.randint(20, 120))
                others = members(lead, rng.randint(2, 5))
                taken.add(late.id)
                if others:
                    plans.append((lead, [late, *others], created_on, False))
            # The others, formed without a Rendez-vous over the last two years.
            for _ in range(max(2, min(6, len(esms) // ESMS_PER_GRAPPE))):
                free = [s for s in esms if s.id not in taken and s.id not in attended]
                if len(free) < 4:
                    break
                lead = rng.choice(free)
                created_on = created_between(self.today - timedelta(days=730), self.today - timedelta(days=10))
                plans.append((lead, members(lead, rng.randint(3, 8)), created_on, False))
        names: dict[str, int] = defaultdict(int)
        rows = []
        rng = self._rng("grappe-status", "-".join(self.departments))  # drawn in the plans' order, not by id
        for lead, others, created_on, attributed in plans:
            place = title_commune(lead.commune) if lead.commune else self.department_names.get(lead.department, "")
            name = f"Grappe ESMS numérique {place}".strip()
            names[name] += 1
            if names[name] > 1:
                name = f"{name} {names[name]}"
            status = _pick(rng, GRAPPE_STATUSES)
            rows.append((name[:200], lead, [lead, *others], status, created_on, attributed))
        ids = reserve_ids(Grappe.__table__, len(rows))
        now = self.journal.now
        copy_rows(
            Grappe.__table__,
            GRAPPE_COLUMNS,
            [
                (gid, name, lead.id, status, created_on, now)
                for gid, (name, lead, _m, status, created_on, _a) in zip(ids, rows)
            ],
        )
        copy_rows(
            grappe_members,
            ("grappe_id", "structure_id"),
            [(gid, s.id) for gid, (_n, _l, members_, *_rest) in zip(ids, rows) for s in members_],
        )
        applications = []
        for grappe_id, (name, lead, members_, status, created_on, attributed) in zip(ids, rows):
            payload = {
                "grappe_id": grappe_id,
                "name": name,
                "lead_structure_id": lead.id,
                "department": lead.department,
                "status": status,
                "created_on": created_on.isoformat(),
                "member_ids": sorted(s.id for s in members_),
            }
            changed = ("name", "lead_structure_id", "status", "created_on", "member_ids")
            self.journal.record(
                "grappe", grappe_id, "create", {k: [None, payload[k]] for k in changed}, "grappe.created", payload
            )
            self.counts["grappes"] += 1
            self.counts["attributed"] += attributed
            applications += self._grappe_applications(rng, grappe_id, lead, len(members_), status, created_on)
        self._applications(applications)

    def _grappe_applications(self, rng, grappe_id, lead, size, status, created_on) -> list[tuple]:
        """A candidate grappe has applied (submitted or selected), a funded one was funded, a formed one
        is drafting its application now and then."""
        call = f"Vague {1 if created_on.month <= 6 else 2} – {min(created_on.year + 1, self.today.year)}"
        requested = size * rng.randrange(12_000, 30_000, 500)
        if status == "candidate":
            return [
                ("esms_numerique", call, rng.choice(("deposee", "retenue")), requested, None, None, grappe_id, lead)
            ]
        if status == "financee":
            granted = round(requested * rng.uniform(0.75, 1.0), -2)
            return [("esms_numerique", call, "financee", requested, granted, None, grappe_id, lead)]
        if status == "constituee" and rng.random() < 0.4:
            return [("esms_numerique", call, "brouillon", requested, None, None, grappe_id, lead)]
        return []

    def _structure_applications(self) -> None:
        """SUN-ES and SONS applications of hospitals."""
        year = self.today.year
        rows = []
        for dep in self.departments:
            rng = self._rng("applications", dep)
            for structure in sorted(
                (s for code in HOSPITALS for s in self.by_department[dep].get(code, [])), key=lambda s: s.id
            ):
                draw = rng.random()
                if draw < SUN_ES_SHARE:
                    programme, call = "sun_es", f"SUN-ES volet {rng.choice((1, 2))} – {rng.choice((year - 1, year))}"
                elif draw < SUN_ES_SHARE + SONS_SHARE:
                    programme, call = "sons", f"SONS – {rng.choice((year - 1, year))}"
                else:
                    continue
                status = _pick(rng, APPLICATION_STATUSES)
                requested = rng.randrange(20_000, 250_000, 1_000)
                granted = round(requested * rng.uniform(0.7, 1.0), -2) if status == "financee" else None
                rows.append((programme, call, status, requested, granted, structure.id, None, structure))
        self._applications(rows)

    def _applications(self, rows: list[tuple]) -> None:
        """Write ``rows`` (programme, call, status, requested, granted, structure id, grappe id, its structure)."""
        ids = reserve_ids(ProgrammeApplication.__table__, len(rows))
        now = self.journal.now
        copy_rows(
            ProgrammeApplication.__table__,
            APPLICATION_COLUMNS,
            [
                (aid, programme, call, status, _euros(requested), _euros(granted), structure_id, grappe_id, now, now)
                for aid, (programme, call, status, requested, granted, structure_id, grappe_id, _s) in zip(ids, rows)
            ],
        )
        for application_id, (programme, call, status, requested, granted, structure_id, grappe_id, _s) in zip(
            ids, rows
        ):
            payload = {
                "application_id": application_id,
                "programme": programme,
                "call": call,
                "status": status,
                "structure_id": structure_id,
                "grappe_id": grappe_id,
                "amount_requested": float(requested),
                "amount_granted": float(granted) if granted is not None else None,
            }
            changes = {k: [None, v] for k, v in payload.items() if v is not None and k != "application_id"}
            parent = ("grappe", grappe_id) if grappe_id else ("structure", structure_id)
            self.journal.record(
                "programme_application", application_id, "create", changes, "application.created", payload, parent
            )
            self.counts["applications"] += 1
