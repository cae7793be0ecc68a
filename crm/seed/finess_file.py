"""Realistic FINESS establishment extracts in the official etalab "cs1100507" layout.

Used by the seed, the tests and the import benchmark. Every FINESS number is
Luhn-valid (Corsica's 2A/2B read as 20) and distinct, categories follow
roughly their national shares (pharmacies and EHPAD frequent, CHU rare),
metropolitan establishments get Lambert 93 coordinates around their
department, overseas ones UTM coordinates, as in the real file.

An establishment is a dict with the 32 ``structureet`` field names, plus
``coordxet``, ``coordyet`` and ``sourcecoordet`` for its ``geolocalisation`` line.
"""

from __future__ import annotations

import json
import math
import random
import re
import zlib
from datetime import date, timedelta
from functools import cache, lru_cache
from pathlib import Path

from crm.seed.geography import prefecture
from crm.seed.people import LAST_NAMES
from crm.structures.finess_parse import GEOLOCATION_LAYOUT, OVERSEAS, STRUCTURE_LAYOUT, wgs84_to_lambert93

DATA_DIR = Path(__file__).resolve().parent.parent / "referential" / "data"
FINESS_DEPARTMENT = {insee: finess for finess, insee in OVERSEAS.items()}

# Department centre (lat, lon) and spread in km, from the simplified department outlines.
_CENTRES = """01 46.1 5.348 30|02 49.561 3.56 34|03 46.393 3.188 34|04 44.106 6.245 33|05 44.664 6.265 30
06 43.939 7.117 26|07 44.753 4.426 30|08 49.616 4.64 29|09 42.921 1.504 28|10 48.305 4.161 31|11 43.104 2.412 32
12 44.281 2.678 37|13 43.543 5.085 29|14 49.1 -0.361 30|15 45.052 2.669 30|16 45.719 0.202 31|17 45.781 -0.676 33
18 47.066 2.492 34|19 45.358 1.877 31|21 47.425 4.771 37|22 48.441 -2.865 33|23 46.09 2.018 30|24 45.105 0.741 38
25 47.166 6.363 29|26 44.679 5.163 33|27 49.114 0.996 31|28 48.388 1.37 31|29 48.261 -4.06 33|2A 41.864 8.989 25
2B 42.395 9.207 27|30 43.994 4.18 31|31 43.359 1.173 32|32 43.693 0.453 32|33 44.825 -0.575 40|34 43.579 3.368 31
35 48.155 -1.637 33|36 46.778 1.577 33|37 47.258 0.691 31|38 45.264 5.575 35|39 46.73 5.698 28|40 43.966 -0.784 39
41 47.617 1.429 32|42 45.728 4.165 28|43 45.128 3.806 28|44 47.363 -1.679 33|45 47.913 2.344 33|46 44.625 1.605 29
47 44.367 0.461 29|48 44.517 3.499 29|49 47.391 -0.559 34|50 49.081 -1.329 31|51 48.95 4.239 36|52 48.11 5.225 32
53 48.147 -0.657 29|54 48.788 6.162 29|55 48.992 5.381 31|56 47.847 -2.811 33|57 49.038 6.66 32|58 47.116 3.504 33
59 50.448 3.216 30|60 49.41 2.426 31|61 48.623 0.128 31|62 50.493 2.288 33|63 45.726 3.14 36|64 43.256 -0.759 35
65 43.054 0.164 27|66 42.6 2.52 26|67 48.671 7.552 28|68 47.859 7.273 24|69 45.871 4.641 23|70 47.641 6.087 29
71 46.645 4.543 37|72 47.995 0.223 31|73 45.478 6.443 32|74 46.035 6.428 27|75 48.856 2.344 4|76 49.655 1.027 32
77 48.627 2.934 31|78 48.815 1.842 19|79 46.557 -0.318 31|80 49.958 2.276 31|81 43.786 2.166 30|82 44.086 1.281 24
83 43.443 6.245 31|84 44.007 5.178 24|85 46.675 -1.298 33|86 46.565 0.459 33|87 45.893 1.234 30|88 48.196 6.381 31
89 47.84 3.563 34|90 47.632 6.927 10|91 48.522 2.243 17|92 48.848 2.246 5|93 48.918 2.478 6|94 48.777 2.468 6
95 49.083 2.131 14"""
CENTRES = {
    code: (float(lat), float(lon), float(km))
    for code, lat, lon, km in (item.split() for item in _CENTRES.replace("\n", "|").split("|"))
}
# Overseas: (UTM zone as FINESS writes it, x, y, phone prefix).
OVERSEAS_GEO = {
    "971": ("UTM_N20", 650000, 1780000, "0590"),
    "972": ("UTM_N20", 710000, 1625000, "0596"),
    "973": ("UTM_N22", 350000, 540000, "0594"),
    "974": ("UTM_S40", 340000, 7670000, "0262"),
    "976": ("UTM_S38", 520000, 8580000, "0269"),
}
# Telephone area by the department's first digit (01 Île-de-France ... 05 south-west), roughly.
PHONE_AREAS = {"0": 4, "1": 5, "2": 3, "3": 5, "4": 4, "5": 2, "6": 4, "7": 4, "8": 4, "9": 1}
BIG = {"13", "31", "33", "34", "59", "62", "69", "75", "92", "93", "94", "06", "44", "67", "76", "38", "77", "78"}
SMALL = {"04", "05", "09", "15", "23", "32", "46", "48", "52", "55", "90", "2A", "2B", "973", "976"}

# Other communes than the prefecture, for the configured region's departments: (name, postal code).
COMMUNES = {
    "09": [("PAMIERS", "09100"), ("SAINT-GIRONS", "09200"), ("LAVELANET", "09300")],
    "11": [("NARBONNE", "11100"), ("CASTELNAUDARY", "11400"), ("LIMOUX", "11300")],
    "12": [("MILLAU", "12100"), ("VILLEFRANCHE-DE-ROUERGUE", "12200"), ("DECAZEVILLE", "12300")],
    "30": [("ALÈS", "30100"), ("BAGNOLS-SUR-CÈZE", "30200"), ("LE VIGAN", "30120")],
    "31": [
        ("SAINT-GAUDENS", "31800"),
        ("MURET", "31600"),
        ("COLOMIERS", "31770"),
        ("BLAGNAC", "31700"),
        ("VILLEFRANCHE-DE-LAURAGAIS", "31290"),
    ],
    "32": [("CONDOM", "32100"), ("LECTOURE", "32700"), ("MIRANDE", "32300")],
    "34": [("BÉZIERS", "34500"), ("SÈTE", "34200"), ("LODÈVE", "34700"), ("LUNEL", "34400")],
    "46": [("FIGEAC", "46100"), ("GOURDON", "46300"), ("SOUILLAC", "46200")],
    "48": [("MARVEJOLS", "48100"), ("FLORAC-TROIS-RIVIÈRES", "48400"), ("LANGOGNE", "48300")],
    "65": [("LOURDES", "65100"), ("BAGNÈRES-DE-BIGORRE", "65200"), ("LANNEMEZAN", "65300")],
    "66": [("PRADES", "66500"), ("CÉRET", "66400"), ("ARGELÈS-SUR-MER", "66700")],
    "81": [("CASTRES", "81100"), ("GAILLAC", "81600"), ("LAVAUR", "81500")],
    "82": [("CASTELSARRASIN", "82100"), ("MOISSAC", "82200"), ("CAUSSADE", "82300")],
}

# categetab: (weight, aggregated category, name patterns). {c} = commune, {n} = a place name,
# {p} = a surname.
PLACES = (
    "LES TILLEULS",
    "L'OUSTAL",
    "LES GLYCINES",
    "LE CLOS DES ACACIAS",
    "SAINT-JOSEPH",
    "LES CÈDRES",
    "LES JARDINS D'ÉMILIE",
    "LA MAISON DU LAC",
    "LE PARC",
    "LE BOIS JOLI",
    "LES MIMOSAS",
    "NOTRE-DAME",
    "L'ÂGE D'OR",
    "LA PASTORALE",
    "LES FLORALIES",
    "LE VAL FLEURI",
    "LES ÉCUREUILS",
    "LE CHÂTEAU",
    "LES OLIVIERS",
    "LA GARRIGUE",
    "LES PEUPLIERS",
    "SAINTE-MARIE",
    "LE MOULIN",
    "L'ESTANQUET",
)
_H, _CL, _PSY = (
    ("1101", "Centres Hospitaliers"),
    ("1102", "Autres Etablissements de Soins"),
    ("1103", "Etablissements de Lutte contre les Maladies Mentales"),
)
_PA, _PH = (
    ("4401", "Etablissements et Services pour Personnes Âgées"),
    ("4301", "Etablissements et Services pour l'Enfance et les Adultes Handicapés"),
)
_DOM, _SOC = ("4602", "Services à Domicile"), ("4501", "Etablissements d'Accueil et de Réinsertion Sociale")
_AMB, _PHA, _LAB = ("2204", "Centres et Maisons de Santé"), ("3401", "Pharmacies"), ("2206", "Laboratoires")
CATEGORIES = {
    "101": (30, _H, ("CHU DE {c}", "CENTRE HOSPITALIER RÉGIONAL DE {c}")),
    "355": (700, _H, ("CENTRE HOSPITALIER DE {c}", "CENTRE HOSPITALIER {n}", "HÔPITAL DE {c}")),
    "106": (250, _H, ("CENTRE HOSPITALIER DE {c}", "HÔPITAL LOCAL DE {c}")),
    "114": (8, _H, ("HÔPITAL D'INSTRUCTION DES ARMÉES {n}",)),
    "122": (60, _CL, ("CLINIQUE {n}", "MATERNITÉ {n}")),
    "128": (350, _CL, ("CLINIQUE {n}", "POLYCLINIQUE DE {c}", "CLINIQUE PASTEUR")),
    "129": (200, _CL, ("CLINIQUE MÉDICALE {n}", "CLINIQUE {n}")),
    "365": (300, _CL, ("POLYCLINIQUE {n}", "CLINIQUE DE {c}")),
    "127": (290, _CL, ("HAD DE {c}", "HAD SANTÉ RELAIS DOMICILE {c}")),
    "109": (450, _CL, ("CENTRE DE RÉÉDUCATION {n}", "SMR {n}", "CENTRE DE SOINS DE SUITE DE {c}")),
    "292": (90, _PSY, ("CENTRE HOSPITALIER SPÉCIALISÉ DE {c}", "CHS {n}")),
    "161": (200, _PSY, ("CLINIQUE PSYCHIATRIQUE {n}", "MAISON DE SANTÉ {n}")),
    "156": (3000, _PSY, ("CMP ADULTES DE {c}", "CMP ENFANTS DE {c}", "CMP DE {c}")),
    "131": (20, _CL, ("INSTITUT DE CANCÉROLOGIE DE {c}",)),
    "500": (7500, _PA, ("EHPAD {n}", "EHPAD DE {c}", "EHPAD RÉSIDENCE {n}", "EHPAD {n} - {c}")),
    "202": (2300, _PA, ("RÉSIDENCE AUTONOMIE {n}", "RÉSIDENCE AUTONOMIE DE {c}")),
    "183": (1200, _PH, ("IME {n}", "IME DE {c}")),
    "186": (450, _PH, ("ITEP {n}", "DITEP DE {c}")),
    "255": (650, _PH, ("MAS {n}", "MAISON D'ACCUEIL SPÉCIALISÉE DE {c}")),
    "437": (900, _PH, ("FAM {n}", "FOYER D'ACCUEIL MÉDICALISÉ DE {c}")),
    "448": (250, _PH, ("EAM {n}", "EAM DE {c}")),
    "354": (2100, _DOM, ("SSIAD ADMR DE {c}", "SSIAD DU CANTON DE {c}", "SSIAD CROIX-ROUGE FRANÇAISE {c}")),
    "460": (6500, _DOM, ("SAAD ADMR DE {c}", "AIDE À DOMICILE {c}", "SAAD {p}")),
    "209": (300, _DOM, ("SPASAD DE {c}", "SPASAD ADMR {c}")),
    "445": (370, _PH, ("SAMSAH APF FRANCE HANDICAP {c}", "SAMSAH DE {c}")),
    "446": (1200, _PH, ("SAVS DE {c}", "SAVS {n}")),
    "246": (1450, _PH, ("ESAT {n}", "ESAT DE {c}")),
    "190": (350, _PH, ("CAMSP DE {c}",)),
    "189": (480, _PH, ("CMPP DE {c}", "CMPP {n}")),
    "182": (1700, _PH, ("SESSAD {n}", "SESSAD DE {c}")),
    "214": (900, _SOC, ("CHRS {n}", "CHRS DE {c}")),
    "603": (2300, _AMB, ("MAISON DE SANTÉ PLURIPROFESSIONNELLE DE {c}", "MSP {n}", "MSP DE {c}")),
    "124": (2600, _AMB, ("CENTRE DE SANTÉ DE {c}", "CENTRE DE SANTÉ DENTAIRE {n}", "CENTRE DE SANTÉ {p}")),
    "620": (
        20000,
        _PHA,
        (
            "PHARMACIE DU CENTRE",
            "PHARMACIE DE LA GARE",
            "PHARMACIE {p}",
            "PHARMACIE DES ARCADES",
            "GRANDE PHARMACIE DE {c}",
            "PHARMACIE DU MARCHÉ",
            "PHARMACIE {n}",
        ),
    ),
    "611": (4000, _LAB, ("LABORATOIRE DE BIOLOGIE MÉDICALE {p}", "LBM BIOPÔLE {c}", "LABORATOIRE {n}")),
}
APE = {
    _H: "8610Z",
    _CL: "8610Z",
    _PSY: "8610Z",
    _PA: "8710A",
    _PH: "8810C",
    _DOM: "8810A",
    _SOC: "8790B",
    _AMB: "8621Z",
    _PHA: "4773Z",
    _LAB: "8690B",
}
STREETS = (
    ("R", "DE LA RÉPUBLIQUE"),
    ("AV", "JEAN JAURÈS"),
    ("BD", "DES PYRÉNÉES"),
    ("R", "DU FOIRAIL"),
    ("CHE", "DE LA FONTAINE"),
    ("PL", "DE L'ÉGLISE"),
    ("RTE", "DE TOULOUSE"),
    ("ALL", "DES PLATANES"),
    ("R", "VICTOR HUGO"),
    ("AV", "DU MARÉCHAL FOCH"),
    ("R", "PASTEUR"),
    ("IMP", "DES ÉCOLES"),
)


@lru_cache(maxsize=1)
def _departments() -> dict[str, str]:
    data = json.loads((DATA_DIR / "departements.json").read_text(encoding="utf-8"))
    return {d["code"]: d["name"] for d in data}


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_key(digits: str) -> str:
    """The check digit that makes ``digits`` + key Luhn-valid (the generator makes ~300,000 of them)."""
    reverse = digits[::-1]
    total = sum(_DOUBLED[d] for d in map(int, reverse[0::2])) + sum(map(int, reverse[1::2]))
    return str(-total % 10)


def finess_number(department: str, serial: int) -> str:
    """A Luhn-valid FINESS number of ``department`` (serial < 1,000,000; overseas < 100,000)."""
    if department.startswith("97"):
        body = "97" + department[2] + f"{serial:05d}"
    else:
        body = f"{department[:2]}{serial:06d}"
    return body + luhn_key(body.replace("2A", "20", 1).replace("2B", "20", 1))


def _siret(rng: random.Random) -> str:
    body = f"{rng.randrange(10**13):013d}"
    return body + luhn_key(body)


@cache
def _communes(department: str) -> list[tuple[str, str]]:
    city, postal = prefecture(department)
    return [(city.upper(), postal or department[:2] + "000"), *COMMUNES.get(department, [])]


@cache
def _commune_number(name: str) -> str:
    return f"{zlib.crc32(name.encode()) % 899 + 1:03d}"


def _date(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randrange(max(1, (end - start).days)))


def _coordinates(rng: random.Random, department: str) -> tuple[str, str, str]:
    if department in OVERSEAS_GEO:
        zone, x, y, _ = OVERSEAS_GEO[department]
        return (
            f"{x + rng.uniform(-15000, 15000):.1f}",
            f"{y + rng.uniform(-15000, 15000):.1f}",
            f"1,ATLASANTE,100,IGN,BD_ADRESSE,V2.2,{zone}",
        )
    lat, lon, km = CENTRES[department]
    dy, dx = (max(-1.3 * km, min(1.3 * km, rng.gauss(0, km / 2))) for _ in range(2))
    x, y = wgs84_to_lambert93(lat + dy / 111.2, lon + dx / (111.2 * math.cos(math.radians(lat))))
    return f"{x:.1f}", f"{y:.1f}", "1,ATLASANTE,100,IGN,BD_ADRESSE,V2.2,LAMBERT_93"


def establishment(
    rng: random.Random,
    department: str,
    department_name: str,
    finess: str,
    category: str,
    extract_date: date,
    *,
    name: str | None = None,
    address: str | None = None,
    commune: tuple[str, str] | None = None,
) -> dict:
    """One establishment dict (``name``, ``address``, ``commune`` forced, or drawn at random)."""
    _, aggregated, patterns = CATEGORIES.get(category, (0, _CL, ("ÉTABLISSEMENT {n}",)))
    city, postal = commune or rng.choice(_communes(department))
    if name is None:
        name = rng.choice(patterns).format(c=city, n=rng.choice(PLACES), p=rng.choice(LAST_NAMES).upper())
    if address is None:
        number, street_type, street = str(rng.randint(1, 120)), *rng.choice(STREETS)
    else:
        match = re.match(r"^(\d+)?\s*(R|AV|BD|CHE|PL|RTE|ALL|IMP|QUA|CRS)?\s+(.*)$", address)
        number, street_type, street = match.groups("") if match else ("", "", address)
    overseas = department in OVERSEAS_GEO
    phone = (
        OVERSEAS_GEO[department][3] + f"{rng.randrange(10**6):06d}"
        if overseas
        else f"0{PHONE_AREAS.get(department[:1], 5)}{rng.randrange(10**8):08d}"
    )
    # Overseas commune numbers start with the department's last digit (97411 = 974 + 11).
    commune_number = department[2] + _commune_number(city)[1:] if overseas else _commune_number(city)
    legal_entity = 98000 + rng.randrange(999) if overseas else 980000 + rng.randrange(10000)
    opened = _date(rng, date(1965, 1, 1), extract_date)
    updated = _date(rng, max(opened, date(2015, 1, 1)), extract_date)
    x, y, source = _coordinates(rng, department)
    row = dict.fromkeys(STRUCTURE_LAYOUT, "")
    row.update(
        section="structureet",
        nofinesset=finess,
        nofinessej=finess_number(department, legal_entity),
        rs=name,
        rslongue=name if rng.random() < 0.6 else "",
        numvoie=number,
        typvoie=street_type,
        voie=street,
        compvoie=rng.choice(("", "", "", "", "B")) if number else "",
        lieuditbp=rng.choice(("", "", "", "", f"BP {rng.randint(1, 999)}")),
        commune=commune_number,
        departement=FINESS_DEPARTMENT.get(department, department),
        libdepartement=department_name.upper(),
        ligneacheminement=f"{postal} {city}",
        telephone=phone,
        categetab=category,
        libcategetab=_labels().get(category, f"Catégorie {category}"),
        categagretab=aggregated[0],
        libcategagretab=aggregated[1],
        siret=_siret(rng) if rng.random() < 0.85 else "",
        codeape=APE.get(aggregated, "8610Z"),
        dateouv=opened.isoformat(),
        dateautor=opened.isoformat(),
        datemaj=updated.isoformat(),
        coordxet=x,
        coordyet=y,
        sourcecoordet=source,
    )
    return row


@lru_cache(maxsize=1)
def _labels() -> dict[str, str]:
    data = json.loads((DATA_DIR / "reference.json").read_text(encoding="utf-8"))
    return {c["code"]: c["label"] for c in data["finess_categories"]}


def generate_establishments(
    department_codes: list[str], count: int, *, seed: int = 0, extract_date: str = "2024-09-10"
) -> list[dict]:
    """``count`` establishments spread over ``department_codes`` (big departments weigh more)."""
    rng = random.Random(seed)
    names = _departments()
    extract = date.fromisoformat(extract_date)
    weights = [3.0 if code in BIG else 0.4 if code in SMALL else 1.0 for code in department_codes]
    codes = list(CATEGORIES)
    category_weights = [CATEGORIES[c][0] for c in codes]
    used: dict[str, set[int]] = {}
    rows = []
    for department, category in zip(
        rng.choices(department_codes, weights, k=count), rng.choices(codes, category_weights, k=count)
    ):
        taken = used.setdefault(department, set())
        limit = 97999 if department.startswith("97") else 979999
        serial = rng.randint(1, limit)
        while serial in taken:
            serial = rng.randint(1, limit)
        taken.add(serial)
        rows.append(
            establishment(rng, department, names[department], finess_number(department, serial), category, extract)
        )
    return rows


def showcase_line(
    category: str, name: str, address: str, postal_code: str, commune: str, department: str, *, index: int = 0
) -> str:
    """A ``structureet`` line for a chosen establishment (FINESS serials 990000+ are kept for these)."""
    rng = random.Random(f"{department}-{index}")
    row = establishment(
        rng,
        department,
        _departments()[department],
        finess_number(department, (99000 if department.startswith("97") else 990000) + index),
        category,
        date(2024, 9, 10),
        name=name,
        address=address,
        commune=(commune, postal_code),
    )
    return structureet_line(row)


def structureet_line(row: dict) -> str:
    return ";".join(str(row.get(name, "")) for name in STRUCTURE_LAYOUT)


def geolocalisation_line(row: dict) -> str:
    return ";".join(["geolocalisation", *(str(row.get(name, "")) for name in GEOLOCATION_LAYOUT[1:])])


def write_establishments(
    path,
    establishments: list[dict],
    *,
    encoding: str = "latin-1",
    extract_date: str = "2024-09-10",
    extra_lines: list[str] | None = None,
    version: int = 96,
) -> Path:
    """Header, ``structureet`` lines, then ``extra_lines``, then ``geolocalisation`` lines."""
    lines = [f"finess;etalab;{version};{extract_date}"]
    lines += [structureet_line(row) for row in establishments]
    lines += list(extra_lines or [])
    lines += [geolocalisation_line(row) for row in establishments if row.get("coordxet")]
    path = Path(path)
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def write_finess_file(
    path,
    department_codes: list[str],
    count: int,
    *,
    seed: int = 0,
    encoding: str = "latin-1",
    extract_date: str = "2024-09-10",
    extra_lines: list[str] | None = None,
) -> Path:
    """Generate ``count`` establishments and write them as a FINESS extract; returns the path."""
    rows = generate_establishments(department_codes, count, seed=seed, extract_date=extract_date)
    return write_establishments(path, rows, encoding=encoding, extract_date=extract_date, extra_lines=extra_lines)
