"""Reading the FINESS establishments extract (etalab "cs1100507" layout).

Pure Python, no database: decoding, the header, the ``structureet`` and
``geolocalisation`` lines, and the Lambert 93 -> WGS84 conversion. The import
engine (:mod:`crm.structures.finess`) turns what this returns into rows.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from crm.structures.identifiers import finess_error, siret_error

STRUCTURE_LAYOUT = (
    "section",
    "nofinesset",
    "nofinessej",
    "rs",
    "rslongue",
    "complrs",
    "compldistrib",
    "numvoie",
    "typvoie",
    "voie",
    "compvoie",
    "lieuditbp",
    "commune",
    "departement",
    "libdepartement",
    "ligneacheminement",
    "telephone",
    "telecopie",
    "categetab",
    "libcategetab",
    "categagretab",
    "libcategagretab",
    "siret",
    "codeape",
    "codemft",
    "libmft",
    "codesph",
    "libsph",
    "dateouv",
    "dateautor",
    "datemaj",
    "numuai",
)
GEOLOCATION_LAYOUT = ("section", "nofinesset", "coordxet", "coordyet", "sourcecoordet", "datemaj")

# FINESS writes the overseas departments with a letter; we use the INSEE codes.
OVERSEAS = {"9A": "971", "9B": "972", "9C": "973", "9D": "974", "9F": "976"}
# In FINESS but not one of the 101 departments (Saint-Pierre-et-Miquelon): out of every scope.
OUTSIDE_DEPARTMENTS = {"9E"}

STREET_TYPES = {
    "R": "RUE",
    "AV": "AVENUE",
    "BD": "BOULEVARD",
    "CHE": "CHEMIN",
    "PL": "PLACE",
    "RTE": "ROUTE",
    "ALL": "ALLÉE",
    "IMP": "IMPASSE",
    "QUA": "QUAI",
    "CRS": "COURS",
    "FG": "FAUBOURG",
    "SQ": "SQUARE",
    "LD": "LIEU-DIT",
    "PROM": "PROMENADE",
    "RPT": "ROND-POINT",
    "ESP": "ESPLANADE",
    "CHS": "CHAUSSÉE",
}

_HEADER = re.compile(r"^finess;etalab;\d+;(\d{4}-\d{2}-\d{2});?$")
_DELIVERY = re.compile(r"^(\d{5})\s+(.*?)(?:\s+CEDEX(?:\s+\d+)?)?$", re.IGNORECASE)
_CATEGORY = re.compile(r"^\d{3,4}$")


class FinessFileError(ValueError):
    """The file is not a FINESS extract we can read; nothing was written."""


def read_source(source) -> bytes:
    """The bytes of ``source``: a path, bytes, or a binary file object."""
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    if isinstance(source, (str, Path)):
        return Path(source).read_bytes()
    data = source.read()
    return data.encode("utf-8") if isinstance(data, str) else data


def decode(data: bytes) -> str:
    """UTF-8 when the bytes are valid UTF-8, else Windows-1252 (a superset of Latin-1)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined
        return data.decode("latin-1")


def check_header(first_line: str) -> date:
    """The extract date of the first line ``finess;etalab;N;YYYY-MM-DD``, or FinessFileError."""
    match = _HEADER.match(first_line.strip())
    if match:
        try:
            return date.fromisoformat(match.group(1))
        except ValueError:
            pass
    raise FinessFileError(
        "Ce fichier n'est pas un extrait FINESS des établissements au format etalab : la première ligne "
        f"devrait être « finess;etalab;<version>;<date> », elle est « {first_line.strip()[:60]} »."
    )


# --- Lambert 93 (RGF93, GRS80 ellipsoid) -> latitude / longitude ------------------------------
# RGF93 and WGS84 differ by less than a metre, far below what a map pin needs.
_A, _E = 6378137.0, 0.0818191910428158
_LON0, _LAT0, _LAT1, _LAT2 = (math.radians(v) for v in (3.0, 46.5, 44.0, 49.0))
_X0, _Y0 = 700000.0, 6600000.0


def _m(lat: float) -> float:
    return math.cos(lat) / math.sqrt(1 - (_E * math.sin(lat)) ** 2)


def _t(lat: float) -> float:
    s = _E * math.sin(lat)
    return math.tan(math.pi / 4 - lat / 2) / ((1 - s) / (1 + s)) ** (_E / 2)


_N = (math.log(_m(_LAT1)) - math.log(_m(_LAT2))) / (math.log(_t(_LAT1)) - math.log(_t(_LAT2)))
_F = _m(_LAT1) / (_N * _t(_LAT1) ** _N)
_RHO0 = _A * _F * _t(_LAT0) ** _N


def lambert93_to_wgs84(x: float, y: float) -> tuple[float, float]:
    """(latitude, longitude) in degrees of a Lambert 93 point (inverse conformal conic projection)."""
    dx, dy = x - _X0, _RHO0 - (y - _Y0)
    rho = math.copysign(math.hypot(dx, dy), _N)
    t = (rho / (_A * _F)) ** (1 / _N)
    lon = math.atan2(dx, dy) / _N + _LON0
    lat = math.pi / 2 - 2 * math.atan(t)
    for _ in range(10):
        s = _E * math.sin(lat)
        nxt = math.pi / 2 - 2 * math.atan(t * ((1 - s) / (1 + s)) ** (_E / 2))
        if abs(nxt - lat) < 1e-12:
            break
        lat = nxt
    return math.degrees(nxt), math.degrees(lon)


def wgs84_to_lambert93(lat: float, lon: float) -> tuple[float, float]:
    """The forward projection (used by the file generator and to check the inverse)."""
    rho = _A * _F * _t(math.radians(lat)) ** _N
    theta = _N * (math.radians(lon) - _LON0)
    return _X0 + rho * math.sin(theta), _Y0 + _RHO0 - rho * math.cos(theta)


# --- lines -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Establishment:
    """One valid ``structureet`` line: the structure columns it sets, and its FINESS category."""

    line: int
    values: dict
    category_code: str | None
    category_label: str | None


@dataclass
class ParsedFile:
    extract_date: date
    establishments: list[Establishment] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    skipped: int = 0
    total_lines: int = 0
    # Every FINESS number read on a structureet line, rejected or not: absent ones get closed.
    seen: set[str] = field(default_factory=set)


def _fields(parts: list[str], size: int) -> list[str] | None:
    if len(parts) == size + 1 and not parts[-1].strip():
        parts = parts[:-1]
    return [p.strip() for p in parts] if len(parts) == size else None


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _address(row: dict) -> str | None:
    street_type = STREET_TYPES.get(row["typvoie"].upper(), row["typvoie"])
    number = " ".join(p for p in (row["numvoie"], row["compvoie"]) if p)
    street = " ".join(p for p in (number, street_type, row["voie"]) if p)
    text = ", ".join(p for p in (row["compldistrib"], street, row["lieuditbp"]) if p)
    return text[:255] or None


def structure_values(row: dict, department_code: str) -> dict:
    """The structure columns a ``structureet`` row sets (its FINESS number already checked)."""
    postal_code = commune = None
    if match := _DELIVERY.match(row["ligneacheminement"]):
        postal_code, commune = match.group(1), match.group(2).strip()[:120] or None
    commune_code = None
    if re.fullmatch(r"\d{3}", row["commune"]):
        # INSEE commune code: department + commune number; overseas ones read 97 + 3 digits (97411).
        commune_code = ("97" if department_code.startswith("97") else department_code) + row["commune"]
    ej = row["nofinessej"].upper()
    siret = re.sub(r"\D", "", row["siret"])
    phone = re.sub(r"\D", "", row["telephone"])
    return {
        "finess_et": row["nofinesset"].upper(),
        "finess_ej": ej if ej and finess_error(ej) is None else None,
        "name": row["rs"][:255],
        "long_name": row["rslongue"][:255] or None,
        # A SIRET that fails its check is dropped, not a reason to refuse the establishment.
        "siret": siret if siret and siret_error(siret) is None else None,
        "address": _address(row),
        "postal_code": postal_code,
        "commune": commune,
        "commune_code": commune_code,
        "department_code": department_code,
        "phone": phone if 9 <= len(phone) <= 15 else None,
        "finess_category_code": row["categetab"] or None,
        "opened_on": _date(row["dateouv"]),
        "finess_updated_on": _date(row["datemaj"]),
        "latitude": None,
        "longitude": None,
    }


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def parse_lines(text: str, scope: set[str] | None, departments: set[str]) -> ParsedFile:
    """Read every line; ``scope`` = department codes to keep (None: all).

    Lines outside the scope are counted as skipped. A bad line is rejected with
    its number and reason, the others are kept.
    """
    lines = text.split("\n")
    parsed = ParsedFile(extract_date=check_header(lines[0]))
    by_finess: dict[str, Establishment] = {}
    coordinates: dict[str, tuple[int, str, str, str]] = {}

    def reject(number: int, reason: str) -> None:
        parsed.rejected.append({"line": number, "reason": reason})

    for number, raw in enumerate(lines[1:], start=2):
        raw = raw.rstrip("\r")
        if not raw.strip():
            continue
        parsed.total_lines += 1
        parts = raw.split(";")
        section = parts[0].strip()
        if _CONTROL.search(raw):
            # PostgreSQL refuses NUL in text and no field legitimately holds control characters.
            if section == "structureet" and len(parts) > 1 and parts[1].strip():
                parsed.seen.add(parts[1].strip().upper())
            reject(number, "caractère de contrôle invalide dans la ligne")
            continue
        if section == "structureet":
            if len(parts) > 1 and parts[1].strip():
                parsed.seen.add(parts[1].strip().upper())
            values = _fields(parts, len(STRUCTURE_LAYOUT))
            if values is None:
                reject(number, f"nombre de champs incorrect ({len(parts)} au lieu de {len(STRUCTURE_LAYOUT)})")
                continue
            row = dict(zip(STRUCTURE_LAYOUT, values))
            finess_department = row["departement"].upper()
            department = OVERSEAS.get(finess_department, finess_department)
            if finess_department in OUTSIDE_DEPARTMENTS or (
                department in departments and scope is not None and department not in scope
            ):
                parsed.skipped += 1
                continue
            if department not in departments:
                reject(number, f"département inconnu : « {row['departement']} »")
                continue
            finess = row["nofinesset"].upper()
            if message := finess_error(finess):
                reject(number, f"{message.rstrip('.')} : « {row['nofinesset']} »")
                continue
            if not row["rs"]:
                reject(number, "raison sociale (rs) manquante")
                continue
            if row["categetab"] and not _CATEGORY.match(row["categetab"]):
                reject(number, f"catégorie d'établissement invalide : « {row['categetab']} »")
                continue
            if finess in by_finess:
                reject(number, f"numéro FINESS {finess} en double (déjà lu ligne {by_finess[finess].line})")
                continue
            establishment = Establishment(
                number, structure_values(row, department), row["categetab"] or None, row["libcategetab"] or None
            )
            by_finess[finess] = establishment
            parsed.establishments.append(establishment)
        elif section == "geolocalisation":
            values = _fields(parts, len(GEOLOCATION_LAYOUT))
            if values is None:
                reject(number, f"nombre de champs incorrect ({len(parts)} au lieu de {len(GEOLOCATION_LAYOUT)})")
                continue
            coordinates[values[1].upper()] = (number, values[2], values[3], values[4])
        else:
            reject(number, f"type de ligne inconnu : « {section[:30]} »")

    for finess, (number, x, y, source) in coordinates.items():
        establishment = by_finess.get(finess)
        if establishment is None or "LAMBERT_93" not in source.upper():
            continue  # out of scope, or overseas UTM coordinates we do not convert
        try:
            lat, lon = lambert93_to_wgs84(float(x), float(y))
        except (ValueError, ZeroDivisionError, OverflowError):
            lat = lon = math.nan
        if not (40.0 <= lat <= 52.0 and -6.0 <= lon <= 11.0):  # also false for NaN
            reject(number, f"coordonnées Lambert 93 invalides : « {x} ; {y} »")
            continue
        establishment.values["latitude"], establishment.values["longitude"] = round(lat, 6), round(lon, 6)
    parsed.rejected.sort(key=lambda r: r["line"])
    return parsed
