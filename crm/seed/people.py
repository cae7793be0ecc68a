"""Demo people: the agency's accounts (through ``save_user``) and structure contacts (in bulk)."""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import insert, select

from crm.accounts.models import User
from crm.accounts.services import save_user
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent, utcnow
from crm.referential.models import Department, Region, Sector
from crm.seed.geography import slug
from crm.structures.models import Contact, Structure

FIRST_NAMES = (
    "Camille",
    "Julien",
    "Sophie",
    "Thomas",
    "Claire",
    "Nicolas",
    "Isabelle",
    "Mathieu",
    "Céline",
    "Sébastien",
    "Nathalie",
    "Guillaume",
    "Aurélie",
    "Laurent",
    "Émilie",
    "Pierre",
    "Anne",
    "Olivier",
    "Marion",
    "Stéphane",
    "Élodie",
    "Vincent",
    "Sandrine",
    "Frédéric",
    "Laure",
    "Christophe",
    "Hélène",
    "Damien",
    "Virginie",
    "Jérôme",
    "Pauline",
    "François",
    "Delphine",
    "Romain",
    "Audrey",
    "Benoît",
    "Caroline",
    "Arnaud",
    "Valérie",
    "Fabien",
    "Mélanie",
    "Cédric",
    "Agnès",
    "Maxime",
    "Cécile",
    "Antoine",
    "Karine",
    "Alexandre",
    "Marine",
    "Yannick",
    "Lucie",
    "Hugo",
    "Chloé",
    "Rémi",
    "Manon",
    "Bertrand",
    "Florence",
    "Jean-Marc",
    "Marie-Pierre",
    "Loïc",
)
LAST_NAMES = (
    "Martin",
    "Bernard",
    "Dubois",
    "Durand",
    "Lefèvre",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Garcia",
    "Fabre",
    "Roux",
    "Bonnet",
    "Fournier",
    "Girard",
    "Mercier",
    "Blanc",
    "Guerin",
    "Boyer",
    "Chevalier",
    "Rouquette",
    "Carrère",
    "Cazals",
    "Bousquet",
    "Vidal",
    "Marty",
    "Puech",
    "Delmas",
    "Lacombe",
    "Sabatier",
    "Estève",
    "Rouanet",
    "Castan",
    "Pujol",
    "Maurel",
    "Barthès",
    "Fontaine",
    "Caussade",
    "Teisseyre",
    "Azéma",
    "Lafon",
    "Lagarde",
    "Bonnafous",
    "Séguy",
    "Ferrand",
    "Cabrol",
    "Rivière",
    "Combes",
    "Andrieu",
    "Mas",
    "Nègre",
    "Alric",
    "Gaillard",
    "Soulié",
    "Roques",
    "Lapeyre",
    "Duplan",
    "Fauré",
    "Bessière",
    "Costes",
)

# Occitanie's team at each scale. Animators of the demo cover 3-4 departments each (all 13 in
# all); at region scale ~2 animators per department (more in Haute-Garonne and Hérault).
DEMO_ANIMATORS = (("31", "09", "65", "32"), ("81", "82", "46"), ("34", "30", "48", "12"), ("11", "66", "34"))
REGION_ANIMATORS = (
    ("31",),
    ("31",),
    ("31",),
    ("31",),
    ("34",),
    ("34",),
    ("34",),
    ("34",),
    ("30",),
    ("30",),
    ("66",),
    ("66",),
    ("11",),
    ("11",),
    ("81",),
    ("81",),
    ("12",),
    ("12",),
    ("65",),
    ("65",),
    ("82", "46"),
    ("32", "09"),
    ("48", "12"),
    ("82", "32"),
    ("09", "46", "48"),
)
TEAM = {
    # scale: (admins, managers, organisers, animator department sets)
    "demo": (1, 1, 2, DEMO_ANIMATORS),
    "region": (1, 2, 3, REGION_ANIMATORS),
}


@dataclass
class SeededUsers:
    created: list[User] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)


def _name_sequence(seed: int):
    """Distinct (first, last) pairs in a stable pseudo-random order."""
    pairs = [(first, last) for first in FIRST_NAMES for last in LAST_NAMES]
    random.Random(seed).shuffle(pairs)
    return iter(pairs)


def email_for(first: str, last: str, domain: str) -> str:
    return f"{slug(first)}.{slug(last)}@{domain}"


def team_plan(scale: str, region_code: str) -> list[tuple[str, tuple[str, ...], str]]:
    """(role, departments, region code of the account's team) for each account of the scale."""
    base = "region" if scale == "national" else scale
    admins, managers, organisers, animators = TEAM[base]
    if region_code != "76":  # another region: spread its departments the same way
        codes = [
            d.code
            for d in db.session.scalars(
                select(Department).where(Department.region_code == region_code).order_by(Department.code)
            )
        ]
        per = 3 if base == "demo" else 1
        animators = tuple(tuple(codes[i : i + per]) for i in range(0, len(codes), per)) * (1 if base == "demo" else 2)
    plan = [("admin", (), region_code)] * admins + [("manager", (), region_code)] * managers
    plan += [("organisateur", (), region_code)] * organisers
    plan += [("animateur", deps, region_code) for deps in animators]
    if scale == "national":
        regions = db.session.execute(
            select(Department.region_code, Department.code).order_by(Department.region_code, Department.code)
        ).all()
        by_region: dict[str, list[str]] = {}
        for reg, code in regions:
            if reg != region_code:
                by_region.setdefault(reg, []).append(code)
        for reg, codes in sorted(by_region.items()):
            size = 2 if len(codes) > 1 else 1
            for i in range(0, len(codes), size):
                plan.append(("animateur", tuple(codes[i : i + size]), reg))
    return plan


def seed_users(scale: str, region_code: str, password: str) -> SeededUsers:
    """Create the accounts of the scale; accounts whose e-mail exists are left untouched."""
    region_names = {r.code: r.name for r in db.session.scalars(select(Region))}
    existing = set(db.session.scalars(select(User.email)))
    names = _name_sequence(20240910)
    result = SeededUsers()
    for role, departments, reg in team_plan(scale, region_code):
        first, last = next(names)
        email = email_for(first, last, f"esante-{slug(region_names.get(reg, 'france'))}.fr")
        if email in existing:
            result.existing.append(email)
            continue
        user = save_user(
            None,
            email=email,
            role=role,
            first_name=first,
            last_name=last,
            department_codes=list(departments),
            password=password,
            origin="seed",
        )
        existing.add(email)
        result.created.append(user)
    return result


# --- contacts ---------------------------------------------------------------------------------

FUNCTIONS = {
    "sanitaire": (
        "Directeur / Directrice",
        "Directeur des systèmes d'information (DSI)",
        "Cadre de santé",
        "Directeur / Directrice des soins",
        "Responsable qualité",
        "Médecin DIM",
        "Responsable de la sécurité des SI (RSSI)",
        "Référent identito-vigilance",
    ),
    "medico_social": (
        "Directeur / Directrice",
        "Infirmier(e) coordinateur(trice) (IDEC)",
        "Médecin coordonnateur",
        "Cadre de santé",
        "Référent numérique",
        "Chef de service",
        "Secrétaire de direction",
    ),
    "social": ("Directeur / Directrice", "Chef de service", "Référent numérique"),
    "exercice_coordonne": (
        "Coordinateur / Coordinatrice",
        "Président(e)",
        "Médecin généraliste",
        "Chargé(e) de mission",
    ),
    "dispositif_coordination": (
        "Directeur / Directrice",
        "Coordinateur / Coordinatrice de parcours",
        "Chargé(e) de mission SI",
    ),
    "liberal": ("Pharmacien(ne) titulaire", "Biologiste responsable", "Gérant(e)"),
    "institutionnel": (
        "Chargé(e) de mission e-santé",
        "Directeur / Directrice",
        "Délégué(e) départemental(e)",
        "Responsable du pôle offre de soins",
    ),
    "editeur": ("Chef de projet", "Responsable interopérabilité", "Directeur commercial"),
}
CIVILITY = ("Mme", "M.")


def _email_domain(name: str) -> str:
    words = [w for w in slug(name).split("-") if len(w) > 2][:3]
    return "-".join(words or ["structure"]) + ".fr"


def seed_contacts(share: float, *, origin: str = "seed", seed: int = 0, chunk: int = 5000) -> int:
    """Give 1-2 contacts to about ``share`` of the structures that have none, in bulk.

    The structures are picked from a hash of their FINESS number (or name), so a second run
    picks the same ones, finds they already have contacts, and adds nothing.
    """
    has_contacts = select(Contact.structure_id).distinct()
    rows = db.session.execute(
        select(Structure.id, Structure.name, Structure.finess_et, Structure.department_code, Sector.code)
        .outerjoin(Sector, Sector.id == Structure.sector_id)
        .where(Structure.id.not_in(has_contacts))
        .order_by(Structure.id)
    ).all()
    threshold = int(share * 1000)
    picked = [r for r in rows if zlib.crc32(f"{r.finess_et or r.name}|{r.department_code}".encode()) % 1000 < threshold]
    if not picked:
        return 0
    rng = random.Random(seed)
    now = utcnow()
    contact_table = Contact.__table__
    total = 0
    for start in range(0, len(picked), chunk):
        values = []
        owners = []
        for row in picked[start : start + chunk]:
            functions = FUNCTIONS.get(row.code or "", FUNCTIONS["medico_social"])
            count = 1 if rng.random() < 0.55 else 2
            domain = _email_domain(row.name)
            for function in rng.sample(functions, min(count, len(functions))):
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                consent = rng.random() < 0.85
                values.append(
                    {
                        "structure_id": row.id,
                        "civility": rng.choice(CIVILITY),
                        "first_name": first,
                        "last_name": last,
                        "function": function,
                        "email": email_for(first, last, domain),
                        "phone": "0" + rng.choice("12345") + "".join(rng.choice("0123456789") for _ in range(8)),
                        "consent": consent,
                        "consent_at": now - timedelta(days=rng.randint(1, 900)) if consent else None,
                        "source": "jeu de démonstration",
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                owners.append(row)
        ids = (
            db.session.execute(
                insert(contact_table).returning(contact_table.c.id, sort_by_parameter_order=True), values
            )
            .scalars()
            .all()
        )
        audit, outbox = [], []
        for contact_id, row, value in zip(ids, owners, values):
            changes = {
                k: [None, value[k]]
                for k in ("civility", "first_name", "last_name", "function", "email", "phone", "consent", "source")
            }
            audit.append(
                {
                    "at": now,
                    "user_id": None,
                    "origin": origin,
                    "entity_type": "contact",
                    "entity_id": contact_id,
                    "action": "create",
                    "changes": changes,
                }
            )
            outbox.append(
                {
                    "type": "contact.created",
                    "aggregate_type": "contact",
                    "aggregate_id": contact_id,
                    "payload": {
                        "contact_id": contact_id,
                        "structure_id": row.id,
                        "department": row.department_code,
                        "consent": value["consent"],
                    },
                    "actor_id": None,
                    "created_at": now,
                    "attempts": 0,
                }
            )
        db.session.execute(insert(AuditEntry.__table__), audit)
        db.session.execute(insert(OutboxEvent.__table__), outbox)
        total += len(values)
    db.session.commit()
    return total
