"""Partner structures that FINESS does not list: CPTS, DAC, CRT, PCO, institutions, federations, editors."""

from __future__ import annotations

import random
import re

from sqlalchemy import func, select

from crm.platform.extensions import db
from crm.referential.models import Department, Region
from crm.seed.bulk import insert_structures
from crm.seed.geography import REGION_SEATS, of_department, prefecture, slug
from crm.structures.identifiers import luhn_check_digit
from crm.structures.models import Structure

STREETS = (
    "rue de la République",
    "avenue Jean Jaurès",
    "boulevard Gambetta",
    "rue Victor Hugo",
    "allée des Tilleuls",
    "place de la Mairie",
    "rue Pasteur",
    "avenue du Général de Gaulle",
    "chemin des Écoles",
    "rue du 8 Mai 1945",
    "avenue de la Gare",
    "rue Émile Zola",
    "impasse des Cèdres",
    "rue des Lilas",
)
URPS_PROFESSIONS = (
    "Médecins libéraux",
    "Infirmiers",
    "Pharmaciens",
    "Masseurs-kinésithérapeutes",
    "Chirurgiens-dentistes",
    "Sages-femmes",
)
FEDERATIONS = (
    ("FHF", "Fédération hospitalière de France"),
    ("FHP", "Fédération de l'hospitalisation privée"),
    ("FEHAP", "Fédération des établissements hospitaliers et d'aide à la personne privés solidaires"),
    ("URIOPSS", "Union régionale interfédérale des organismes privés sanitaires et sociaux"),
)
# Software editors met in e-health projects: (name, long name, department, commune, postal code).
EDITORS = (
    ("Berger-Levrault", "Berger-Levrault – pôle santé et médico-social", "31", "Labège", "31670"),
    ("Softway Medical", "Softway Medical – éditeur de SIH", "13", "Meyreuil", "13590"),
    ("Maincare Solutions", "Maincare Solutions – dossier patient informatisé", "33", "Mérignac", "33700"),
    ("Dedalus France", "Dedalus France – solutions hospitalières", "92", "Le Plessis-Robinson", "92350"),
    ("Cegedim Santé", "Cegedim Santé – logiciels médecins et pharmaciens", "92", "Boulogne-Billancourt", "92100"),
    ("NetSoins", "NetSoins – dossier de soins informatisé pour EHPAD", "34", "Montpellier", "34000"),
    ("Arcanh", "Arcanh – logiciels pour le secteur médico-social", "31", "Toulouse", "31000"),
    ("Inovelan", "Inovelan – télésanté et coordination", "31", "Ramonville-Saint-Agne", "31520"),
)
# Real-looking CPTS met in the activity reports, added when their department is seeded.
KNOWN_CPTS = {
    "34": ("CPTS Montpellier Sud & Ouest", "Montpellier", "34070"),
    "81": ("CPTS Sud Tarn", "Castres", "81100"),
    "31": ("CPTS du Comminges", "SAINT-GAUDENS", "31800"),
}
CPTS_PATTERNS = (
    "CPTS {c}",
    "CPTS du Grand {c}",
    "CPTS {c} et environs",
    "CPTS Pays de {c}",
    "CPTS {c} Nord",
    "CPTS {c} Sud",
    "CPTS Cœur de {c}",
    "CPTS des coteaux de {c}",
)
PHONE_AREA = {
    "11": "1",
    "24": "2",
    "28": "2",
    "52": "2",
    "53": "2",
    "32": "3",
    "44": "3",
    "27": "3",
    "84": "4",
    "93": "4",
    "94": "4",
    "75": "5",
    "01": "5",
    "02": "5",
    "03": "5",
    "04": "2",
    "06": "2",
}
OCCITANIE_WEST = {"09", "12", "31", "32", "46", "65", "81", "82"}
_SMALL = {"de", "du", "des", "la", "le", "les", "sur", "en", "et", "sous", "l", "d", "aux", "au"}


def title_commune(commune: str) -> str:
    """ "SAINT-GAUDENS" -> "Saint-Gaudens", "L'ISLE-JOURDAIN" -> "L'Isle-Jourdain"."""
    parts = re.split(r"([ \-'])", commune.lower())
    out = []
    for i, part in enumerate(parts):
        out.append(part if (part in _SMALL and i > 0) or not part.isalpha() else part.capitalize())
    return "".join(out)


def _siret(rng: random.Random) -> str:
    siren = str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(7))
    siren += luhn_check_digit(siren)
    partial = siren + "".join(rng.choice("0123456789") for _ in range(4))
    return partial + luhn_check_digit(partial)


def _phone(rng: random.Random, department: str, region: str) -> str:
    area = ("5" if department in OCCITANIE_WEST else "4") if region == "76" else PHONE_AREA.get(region, "1")
    return "0" + area + "".join(rng.choice("0123456789") for _ in range(8))


def _main_communes(codes: list[str]) -> dict[str, list[tuple[str, str | None, int]]]:
    """Per department, the communes with most FINESS establishments: [(commune, postal code, count)].

    Only FINESS rows count, so that a second run sees the same communes and names the same CPTS.
    """
    rows = db.session.execute(
        select(Structure.department_code, Structure.commune, func.min(Structure.postal_code), func.count())
        .where(Structure.department_code.in_(codes), Structure.commune.is_not(None), Structure.source == "finess")
        .group_by(Structure.department_code, Structure.commune)
        .order_by(Structure.department_code, func.count().desc(), Structure.commune)
    ).all()
    out: dict[str, list] = {}
    for code, commune, postal, count in rows:
        out.setdefault(code, []).append((commune, postal, count))
    return out


def _department_partners(dep: Department, region_name: str, multi: bool, communes: list) -> list[dict]:
    rng = random.Random(f"partners-{dep.code}")
    city, postal = prefecture(dep.code)
    of = of_department(dep.code, dep.name)
    base = {"department_code": dep.code}

    def at(name, category, long_name=None, commune=city, postal_code=postal, **extra):
        return {
            **base,
            "name": name,
            "category": category,
            "long_name": long_name,
            "commune": commune,
            "postal_code": postal_code,
            "address": f"{rng.randint(1, 80)} {rng.choice(STREETS)}",
            "phone": _phone(rng, dep.code, dep.region_code),
            "siret": _siret(rng),
            **extra,
        }

    rows = [
        at(f"DAC {dep.name}", "DAC", f"Dispositif d'appui à la coordination {of}"),
        at(f"PCO TND {dep.name}", "PCO", f"Plateforme de coordination et d'orientation TND {of}"),
        at(f"MDPH {dep.name}", "MDPH", f"Maison départementale des personnes handicapées {of}"),
    ]
    cpam = {
        "971": "CGSS de la Guadeloupe",
        "972": "CGSS de la Martinique",
        "973": "CGSS de la Guyane",
        "974": "CGSS de La Réunion",
        "976": "CSS de Mayotte",
    }.get(dep.code, f"CPAM {of}")
    rows.append(at(cpam, "CPAM", "Caisse primaire d'assurance maladie" if cpam.startswith("CPAM") else None))
    council = {
        "75": "Ville de Paris",
        "2A": "Collectivité de Corse",
        "2B": None,
        "67": "Collectivité européenne d'Alsace",
        "68": None,
        "972": "Collectivité territoriale de Martinique",
        "973": "Collectivité territoriale de Guyane",
    }.get(dep.code, f"Conseil départemental {of}")
    if council:
        rows.append(at(council, "CD"))
    if multi:
        rows.append(
            at(
                f"ARS {region_name} – Délégation départementale {of}",
                "ARS",
                f"Agence régionale de santé {region_name}, délégation départementale {of}",
            )
        )
    places = [(commune, cp) for commune, cp, _ in communes] or [(city, postal)]
    for commune, cp in places[: rng.randint(1, 2)]:
        rows.append(
            at(
                f"CRT {title_commune(commune)}",
                "CRT",
                "Centre de ressources territorial pour les personnes âgées",
                commune,
                cp,
            )
        )
    # About one CPTS per 60 establishments (Occitanie: ~90 CPTS for ~6,000), 2 to 8 per department.
    count = max(2, min(8, sum(n for _, _, n in communes) // 60))
    if dep.code in KNOWN_CPTS:
        name, commune, cp = KNOWN_CPTS[dep.code]
        rows.append(at(name, "CPTS", "Communauté professionnelle territoriale de santé", commune, cp))
    names = {row["name"] for row in rows}
    for i in range(count):
        commune, cp = places[i % len(places)]
        patterns = [CPTS_PATTERNS[0]] if i == 0 else rng.sample(CPTS_PATTERNS, len(CPTS_PATTERNS))
        name = next((n for n in (p.format(c=title_commune(commune)) for p in patterns) if n not in names), None)
        if name:
            names.add(name)
            rows.append(at(name, "CPTS", "Communauté professionnelle territoriale de santé", commune, cp))
    return rows


def _region_partners(region: Region) -> list[dict]:
    rng = random.Random(f"region-{region.code}")
    code, commune, postal = REGION_SEATS[region.code]
    domain = slug(region.name)

    def at(name, category, long_name=None, **extra):
        return {
            "department_code": code,
            "name": name,
            "category": category,
            "long_name": long_name,
            "commune": commune,
            "postal_code": postal,
            "siret": _siret(rng),
            "address": f"{rng.randint(1, 80)} {rng.choice(STREETS)}",
            "phone": _phone(rng, code, region.code),
            **extra,
        }

    rows = [
        at(
            f"ARS {region.name}",
            "ARS",
            f"Agence régionale de santé {region.name} – siège",
            website=f"https://www.{domain}.ars.sante.fr",
        )
    ]
    rows += [
        at(f"URPS {profession} {region.name}", "URPS", "Union régionale des professionnels de santé")
        for profession in URPS_PROFESSIONS
    ]
    rows += [
        at(f"{short} {region.name}", "FEDERATION", f"{long_name} – {region.name}") for short, long_name in FEDERATIONS
    ]
    return rows


def partner_rows(department_codes: list[str]) -> list[dict]:
    """Every partner structure of these departments, their regions, and the editors."""
    departments = list(
        db.session.scalars(select(Department).where(Department.code.in_(department_codes)).order_by(Department.code))
    )
    region_codes = sorted({d.region_code for d in departments})
    regions = {r.code: r for r in db.session.scalars(select(Region).where(Region.code.in_(region_codes)))}
    sizes = dict(
        db.session.execute(select(Department.region_code, func.count()).group_by(Department.region_code)).all()
    )
    communes = _main_communes([d.code for d in departments])
    rows: list[dict] = []
    for dep in departments:
        rows += _department_partners(
            dep, regions[dep.region_code].name, sizes.get(dep.region_code, 1) > 1, communes.get(dep.code, [])
        )
    for code in region_codes:
        if code in REGION_SEATS:
            rows += _region_partners(regions[code])
    rng = random.Random("editors")
    for name, long_name, dep, commune, postal in EDITORS:
        rows.append(
            {
                "department_code": dep,
                "name": name,
                "long_name": long_name,
                "category": "EDITEUR",
                "commune": commune,
                "postal_code": postal,
                "siret": _siret(rng),
                "website": f"https://www.{slug(name)}.fr",
            }
        )
    return rows


def seed_partners(department_codes: list[str], *, origin: str = "seed") -> int:
    """Insert the partners not already present (same name in the same department); one transaction."""
    existing = set(db.session.execute(select(Structure.name, Structure.department_code)).all())
    rows, seen = [], set()
    for row in partner_rows(department_codes):
        key = (row["name"], row["department_code"])
        if key in existing or key in seen:
            continue
        seen.add(key)
        rows.append(row)
    insert_structures(rows, origin=origin)
    db.session.commit()
    return len(rows)
