"""Targets: validated, written with their audit entry and domain event, read by the dashboards and the API,
copied from one year to the next, exported and imported as CSV or XLSX.

The reading of a figure against its target (:func:`progress`) is defined in docs/indicators.md
("Cibles et progression"): rates compare directly with their target; counts with the target prorated by
the days of the year elapsed; the projection to year end follows last year's curve.
"""

from __future__ import annotations

import csv
import io
import re
from calendar import isleap
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sqlalchemy import select

from crm.accounts.models import User
from crm.platform.dates import local_today
from crm.platform.events import record_change
from crm.platform.exports import ExportTable
from crm.platform.extensions import db
from crm.platform.models import utcnow
from crm.platform.uploads import UploadRefused, check_cells, xlsx_rows
from crm.platform.validation import ValidationFailed, as_id, blank
from crm.referential.models import Programme
from crm.referential.services import region_department_codes
from crm.targets.models import INDICATORS, PROGRAMME_INDICATORS, Target, scope_key

WRITE_ROLES = ("manager", "admin")
READ_ROLES = ("animateur", "organisateur", "manager", "admin")
MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_COUNT = Decimal("10000000")
MAX_IMPORT_LINES = 20_000
REGION = "Région"

Key = tuple[str, str | None, int | None]  # (indicator, department_code or None, programme_id or None)


def can_write(user) -> bool:
    return bool(user and user.is_authenticated and user.role in WRITE_ROLES)


def can_read(user) -> bool:
    return bool(user and user.is_authenticated and user.role in READ_ROLES)


# --- Reading ---------------------------------------------------------------------------------------------


def target_values(year: int, department_code: str | None = None) -> dict[Key, Decimal]:
    """The targets of ``year``: the region's and every department's, or only ``department_code``'s.

    Keyed by (indicator, department_code or None for the region, programme_id or None for all programmes).
    """
    query = select(Target.indicator, Target.department_code, Target.programme_id, Target.value).where(
        Target.year == year
    )
    if department_code is not None:
        query = query.where(Target.department_code == department_code)
    return {(i, d, p): Decimal(v) for i, d, p, v in db.session.execute(query)}


def targets_of_year(year: int) -> list[Target]:
    return list(
        db.session.scalars(
            select(Target)
            .where(Target.year == year)
            .order_by(
                Target.indicator, Target.department_code.is_not(None), Target.department_code, Target.programme_id
            )
        )
    )


def scope_target(
    targets: dict[Key, Decimal],
    indicator: str,
    departments: Iterable[str],
    programme_id: int | None = None,
    region_codes: Iterable[str] | None = None,
) -> Decimal | None:
    """The target that goes with a figure read over ``departments``.

    The whole region: the region's target (or, for a count, the sum of every department's when the region
    has none). One department: its own. Several: for a count, the sum of their targets when each has one;
    a rate has no target there (the departments' rates do not add up).
    """
    departments = list(departments)
    region = set(region_codes if region_codes is not None else region_department_codes())
    counts = not INDICATORS[indicator].is_rate
    if set(departments) == region:
        found = targets.get((indicator, None, programme_id))
        if found is not None or not counts:
            return found
    if len(departments) == 1:
        return targets.get((indicator, departments[0], programme_id))
    if not counts or not departments:
        return None
    values = [targets.get((indicator, code, programme_id)) for code in departments]
    return sum(values, Decimal(0)) if all(v is not None for v in values) else None


# --- Progress against a target ---------------------------------------------------------------------------


def days_in_year(year: int) -> int:
    return 366 if isleap(year) else 365


@dataclass(frozen=True)
class Progress:
    """A figure against its yearly target.

    ``value``, ``target``, ``expected``, ``gap`` and ``projection`` are in the indicator's unit: % for a
    rate (37.5 for 37,5 %), units for a count.
    """

    indicator: str
    value: float | None
    target: float | None
    expected: float | None  # the target prorated by the days elapsed (a rate: the target itself)
    gap: float | None  # value - expected: points for a rate, units for a count
    projection: float | None  # the value expected at the end of the period, from last year's curve
    status: str | None  # "reached", "on_track", "behind"; None without value or target
    elapsed_days: int
    year_days: int

    @property
    def is_rate(self) -> bool:
        return INDICATORS[self.indicator].is_rate

    @property
    def status_label(self) -> str | None:
        return STATUS_LABELS.get(self.status) if self.status else None

    def as_dict(self) -> dict:
        return {
            "target": self.target,
            "expected": self.expected,
            "gap": self.gap,
            "projection": self.projection,
            "status": self.status,
        }


STATUS_LABELS = {"reached": "Cible atteinte", "on_track": "En bonne voie", "behind": "En retard sur la cible"}


def elapsed_days(period_start: date, period_end: date, today: date) -> int:
    """Days of the period completed before ``today`` (all of them once the period is over)."""
    if today > period_end:
        return (period_end - period_start).days + 1
    return max(0, (today - period_start).days)


def project(value_so_far: float | None, last_year_full: float | None, last_year_same_period: float | None):
    """value_last_year_full × value_so_far / value_last_year_same_period, when that is defined."""
    if value_so_far is None or last_year_full is None or not last_year_same_period:
        return None
    return round(last_year_full * value_so_far / last_year_same_period, 2)


def progress(
    value: float | None,
    target: Decimal | float | None,
    indicator: str,
    period_start: date,
    period_end: date,
    today: date,
    *,
    last_year_full: float | None = None,
    last_year_same_period: float | None = None,
) -> Progress:
    """``value`` (read over ``period_start``..``period_end`` as of ``today``) against the yearly ``target``.

    A rate compares directly with its target. A count compares with ``target × days elapsed / days in the
    year``: the days of the period completed before ``today`` (2026-07-02 in 2026: 182 / 365); once the period
    is over, all its days. The projection is given while the period is running.
    """
    definition = INDICATORS[indicator]
    year_days = days_in_year(period_start.year)
    elapsed = elapsed_days(period_start, period_end, today)
    running = period_start <= today <= period_end
    projection = project(value, last_year_full, last_year_same_period) if running else value
    if target is None:
        return Progress(indicator, value, None, None, None, projection, None, elapsed, year_days)
    target = float(target)
    expected = target if definition.is_rate else round(target * elapsed / year_days, 2)
    if value is None:
        return Progress(indicator, None, target, expected, None, projection, None, elapsed, year_days)
    gap = round(value - expected, 2)
    if value >= target:
        status = "reached" if not definition.is_rate or not running else "on_track"
    elif value >= expected:
        status = "on_track"
    else:
        status = "behind"
    return Progress(indicator, value, target, expected, gap, projection, status, elapsed, year_days)


def same_period_last_year(start: date, end: date, today: date) -> tuple[date, date]:
    """The days of last year matching the part of ``start``..``end`` read so far, up to ``today`` (29 February
    → 28)."""
    last = min(end, today) if start <= today else end
    return year_before(start), year_before(last)


def year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


# --- Validation ------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")


def parse_value(raw, indicator: str | None) -> tuple[Decimal | None, str | None]:
    """A French number ("12,5", "1 200", "12,5 %") checked against the indicator's bounds."""
    if isinstance(raw, bool):
        return None, "Nombre attendu."
    if isinstance(raw, (int, float, Decimal)):
        text = str(raw)
    else:
        text = str(raw if raw is not None else "").strip()
        text = re.sub(r"[\s\u00a0\u202f]", "", text).removesuffix("%")
    if not text:
        return None, "Valeur manquante."
    if not _NUMBER.match(text) or len(text) > 20:
        return None, "Nombre attendu (par exemple 12,5)."
    try:
        value = Decimal(text.replace(",", "."))
    except InvalidOperation:
        return None, "Nombre attendu (par exemple 12,5)."
    if value != value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP):
        return None, "Deux décimales au plus."
    definition = INDICATORS.get(indicator or "")
    if definition is None:
        return value, None
    if definition.is_rate and not Decimal(0) <= value <= Decimal(100):
        return None, "Un taux est compris entre 0 et 100 %."
    if not definition.is_rate:
        if value < 0:
            return None, "Une cible en nombre ne peut pas être négative."
        if value != value.to_integral_value():
            return None, "Une cible en nombre est un nombre entier."
        if value > MAX_COUNT:
            return None, "Valeur trop grande."
    return value.quantize(Decimal("0.01")), None


def _year(raw, errors: dict) -> int | None:
    text = str(raw if raw is not None else "").strip()
    if not (text.isascii() and text.isdigit()) or not MIN_YEAR <= int(text) <= MAX_YEAR:
        errors["year"] = f"Année attendue entre {MIN_YEAR} et {MAX_YEAR}."
        return None
    return int(text)


def clean_target(data: dict, *, region: list[str] | None = None, programmes: set[int] | None = None) -> dict:
    """Validate one target: indicator, year, department (blank: the region), programme (blank: all), value."""
    errors: dict[str, str] = {}
    indicator = str(data.get("indicator") or "").strip()
    if indicator not in INDICATORS:
        errors["indicator"] = "Indicateur inconnu : " + ", ".join(INDICATORS) + "."
        indicator = None
    year = _year(data.get("year"), errors)
    region = region if region is not None else region_department_codes()
    department = blank(data.get("department"))
    if department is not None:
        department = str(department).strip().upper().removesuffix(".0")
        if department.isdigit() and len(department) == 1:  # "9" typed in a spreadsheet for Ariège
            department = "0" + department
        if department in ("REGION", "RÉGION"):
            department = None
        elif department not in region:
            errors["department"] = "Département inconnu ou hors de la région."
    programme_raw = blank(data.get("programme_id"))
    programme_id = None
    if programme_raw is not None:
        programme_id = as_id(programme_raw)
        known = programmes if programmes is not None else set(db.session.scalars(select(Programme.id)))
        if programme_id is None or programme_id not in known:
            errors["programme_id"] = "Programme inconnu."
        elif indicator is not None and indicator not in PROGRAMME_INDICATORS:
            errors["programme_id"] = "Cet indicateur n'a pas de cible par programme."
    value, message = parse_value(data.get("value"), indicator)
    if message:
        errors["value"] = message
    if errors:
        raise ValidationFailed(errors)
    return {
        "indicator": indicator,
        "year": year,
        "department_code": department,
        "programme_id": programme_id,
        "value": value,
    }


# --- Writing ---------------------------------------------------------------------------------------------


def target_payload(target: Target, previous_value: Decimal | None = None) -> dict:
    return {
        "target_id": target.id,
        "indicator": target.indicator,
        "year": target.year,
        "department": target.department_code,
        "programme_id": target.programme_id,
        "value": target.value,
        "previous_value": previous_value,
    }


def _find(values: dict) -> Target | None:
    return db.session.scalar(
        select(Target).where(
            Target.year == values["year"],
            Target.indicator == values["indicator"],
            Target.scope_key == scope_key(values["department_code"], values["programme_id"]),
        )
    )


def upsert(values: dict, *, user_id: int | None, origin: str | None) -> tuple[Target, str]:
    """Set one cleaned target in the session (no commit): "created", "updated" or "unchanged"."""
    target = _find(values)
    if target is not None and Decimal(target.value) == values["value"]:
        return target, "unchanged"
    if target is None:
        target = Target(
            indicator=values["indicator"],
            year=values["year"],
            department_code=values["department_code"],
            programme_id=values["programme_id"],
            scope_key=scope_key(values["department_code"], values["programme_id"]),
            value=values["value"],
            updated_at=utcnow(),
            updated_by_id=user_id,
        )
        db.session.add(target)
        db.session.flush()
        previous, action, outcome = None, "create", "created"
    else:
        previous = Decimal(target.value)
        target.value = values["value"]
        target.updated_at = utcnow()
        target.updated_by_id = user_id
        action, outcome = "update", "updated"
    record_change(
        entity_type="target",
        entity_id=target.id,
        action=action,
        changes={"value": [previous, values["value"]]},
        event_type="target.set",
        payload=target_payload(target, previous),
        user_id=user_id,
        origin=origin,
    )
    return target, outcome


def _delete(target: Target, *, user_id: int | None, origin: str | None) -> None:
    payload = target_payload(target, Decimal(target.value))
    record_change(
        entity_type="target",
        entity_id=target.id,
        action="delete",
        changes={"value": [Decimal(target.value), None]},
        event_type="target.deleted",
        payload={**payload, "value": None},
        user_id=user_id,
        origin=origin,
    )
    db.session.delete(target)


def _require_writer(user: User) -> None:
    if not can_write(user):
        raise PermissionError("Seuls les managers et les administrateurs saisissent les cibles.")


def save_target(data: dict, *, user: User, origin: str | None = None) -> tuple[Target, str]:
    """Create or change one target (the API's upsert), committed."""
    _require_writer(user)
    values = clean_target(data)
    target, outcome = upsert(values, user_id=user.id, origin=origin)
    db.session.commit()
    return target, outcome


def delete_target(target: Target, *, user: User, origin: str | None = None) -> None:
    _require_writer(user)
    _delete(target, user_id=user.id, origin=origin)
    db.session.commit()


@dataclass
class Summary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: int = 0

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    @property
    def changed(self) -> int:
        return self.created + self.updated + self.deleted

    def text(self) -> str:
        parts = [
            f"{self.created} créée{'s' if self.created > 1 else ''}",
            f"{self.updated} modifiée{'s' if self.updated > 1 else ''}",
        ]
        if self.deleted:
            parts.append(f"{self.deleted} effacée{'s' if self.deleted > 1 else ''}")
        parts.append(f"{self.unchanged} inchangée{'s' if self.unchanged > 1 else ''}")
        if self.skipped:
            plural = "s" if self.skipped > 1 else ""
            parts.append(f"{self.skipped} déjà saisie{plural}, conservée{plural}")
        return "Cibles : " + ", ".join(parts) + "."


def cell_name(indicator: str, department_code: str | None, programme_id: int | None = None) -> str:
    """The grid's input name of one cell: ``cible-<indicator>-<department or region>[-<programme>]``."""
    return f"cible-{indicator}-{department_code or 'region'}" + (f"-{programme_id}" if programme_id else "")


def save_grid(
    year: int,
    cells: dict[tuple[str, str | None, int | None], str],
    *,
    user: User,
) -> Summary:
    """Save a grid: every cell (indicator, department or None, programme or None) → its text ("" clears it).

    Every cell is checked first; with one error, :class:`ValidationFailed` maps each wrong cell's input
    name to its French message and nothing is written.
    """
    _require_writer(user)
    region = region_department_codes()
    programmes = set(db.session.scalars(select(Programme.id)))
    errors: dict[str, str] = {}
    cleaned: list[tuple[tuple, dict | None]] = []
    for (indicator, department, programme_id), raw in cells.items():
        if blank(raw) is None:
            cleaned.append(((indicator, department, programme_id), None))
            continue
        try:
            values = clean_target(
                {
                    "indicator": indicator,
                    "year": year,
                    "department": department,
                    "programme_id": programme_id,
                    "value": raw,
                },
                region=region,
                programmes=programmes,
            )
        except ValidationFailed as error:
            errors[cell_name(indicator, department, programme_id)] = "; ".join(error.errors.values())
            continue
        cleaned.append(((indicator, department, programme_id), values))
    if errors:
        raise ValidationFailed(errors)
    existing = {
        (t.indicator, t.department_code, t.programme_id): t
        for t in db.session.scalars(select(Target).where(Target.year == year))
    }
    summary = Summary()
    for key, values in cleaned:
        if values is None:
            if key in existing:
                _delete(existing[key], user_id=user.id, origin="grille")
                summary.add("deleted")
            continue
        summary.add(upsert(values, user_id=user.id, origin="grille")[1])
    db.session.commit()
    return summary


def copy_year(from_year: int, to_year: int, *, user: User, overwrite: bool = False) -> Summary:
    """Copy every target of ``from_year`` to ``to_year`` in one transaction; a target already set in
    ``to_year`` is kept unless ``overwrite``."""
    _require_writer(user)
    summary = Summary()
    existing = {
        (t.indicator, t.department_code, t.programme_id): t
        for t in db.session.scalars(select(Target).where(Target.year == to_year))
    }
    for source in targets_of_year(from_year):
        key = (source.indicator, source.department_code, source.programme_id)
        if key in existing and not overwrite:
            summary.add("skipped" if Decimal(existing[key].value) != Decimal(source.value) else "unchanged")
            continue
        values = {
            "indicator": source.indicator,
            "year": to_year,
            "department_code": source.department_code,
            "programme_id": source.programme_id,
            "value": Decimal(source.value),
        }
        summary.add(upsert(values, user_id=user.id, origin="copie")[1])
    db.session.commit()
    return summary


def conflicts_when_copying(from_year: int, to_year: int) -> int:
    """How many targets of ``to_year`` a copy from ``from_year`` would replace by another value."""
    source = target_values(from_year)
    return sum(1 for key, value in target_values(to_year).items() if key in source and source[key] != value)


# --- Export and import -----------------------------------------------------------------------------------

HEADER = ("indicateur", "libellé", "année", "département", "programme", "valeur", "unité")


def export_table(year: int) -> ExportTable:
    """The year's targets, one line each: what :func:`import_file` reads back."""
    programmes = {p.id: p.number for p in db.session.scalars(select(Programme))}
    rows = [
        (
            t.indicator,
            INDICATORS[t.indicator].label,
            t.year,
            t.department_code or REGION,
            programmes.get(t.programme_id) if t.programme_id else None,
            float(t.value) if INDICATORS[t.indicator].is_rate else int(t.value),
            INDICATORS[t.indicator].unit,
        )
        for t in targets_of_year(year)
    ]
    return ExportTable(
        title=f"Cibles {year}",
        header=HEADER,
        rows=rows,
        context=[
            ("Année", str(year)),
            ("Lecture", "département vide ou « Région » : la région ; programme vide : tous les programmes"),
        ],
    )


class ImportFailed(ValueError):
    """The file cannot be imported: ``errors`` lists "Ligne N : ..." in French; nothing was written."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def _file_lines(data: bytes, filename: str) -> list[tuple[int, list[str]]]:
    if filename.lower().endswith(".xlsx"):
        return list(enumerate(xlsx_rows(data, max_rows=MAX_IMPORT_LINES, max_columns=30), start=1))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise ImportFailed(["Le fichier n'est pas un texte CSV lisible (UTF-8 attendu)."]) from None
    sample = text[:5000]
    delimiter = ";" if sample.count(";") >= sample.count(",") else ","
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error:
        raise ImportFailed(["Le fichier CSV est mal formé (guillemet non fermé ?)."]) from None
    if len(rows) > MAX_IMPORT_LINES:
        raise ImportFailed([f"Le fichier compte plus de {MAX_IMPORT_LINES} lignes."])
    out = []
    for number, cells in enumerate(rows, start=1):
        check_cells(cells, number, max_columns=30)
        out.append((number, cells))
    return out


FIELD_ALIASES = {
    "indicateur": "indicator",
    "indicator": "indicator",
    "année": "year",
    "annee": "year",
    "year": "year",
    "département": "department",
    "departement": "department",
    "department": "department",
    "programme": "programme",
    "programme_number": "programme",
    "valeur": "value",
    "value": "value",
    "cible": "value",
}


def import_file(data: bytes, filename: str, *, user: User) -> Summary:
    """Import targets from a CSV (``;`` or ``,``) or XLSX file with the export's columns.

    Every line is checked first; any error raises :class:`ImportFailed` listing the lines and nothing is
    written. Importing the same file twice changes nothing the second time.
    """
    _require_writer(user)
    try:
        lines = _file_lines(data, filename)
    except UploadRefused as refused:
        raise ImportFailed([refused.message]) from None
    header_at, columns = None, {}
    for index, (_number, cells) in enumerate(lines):
        names = [FIELD_ALIASES.get(c.strip().lower()) for c in cells]
        if {"indicator", "year", "value"} <= set(names):
            header_at = index
            columns = {name: position for position, name in enumerate(names) if name and name not in columns}
            break
    if header_at is None:
        raise ImportFailed(["En-tête introuvable : les colonnes indicateur, année, département, programme et valeur."])
    region = region_department_codes()
    programme_ids = {p.number: p.id for p in db.session.scalars(select(Programme))}
    errors: list[str] = []
    cleaned: dict[tuple, tuple[int, dict]] = {}
    for number, cells in lines[header_at + 1 :]:
        if not any(c.strip() for c in cells):
            continue

        def cell(name, cells=cells):
            position = columns.get(name)
            return cells[position].strip() if position is not None and position < len(cells) else ""

        programme_text = cell("programme")
        programme_id = None
        line_errors = []
        if programme_text:
            number_text = programme_text.removesuffix(".0")
            programme_id = programme_ids.get(int(number_text)) if number_text.isdigit() else None
            if programme_id is None:
                line_errors.append("programme inconnu (numéro du programme attendu)")
        try:
            values = clean_target(
                {
                    "indicator": cell("indicator"),
                    "year": cell("year").removesuffix(".0"),
                    "department": cell("department"),
                    "programme_id": programme_id,
                    "value": cell("value"),
                },
                region=region,
                programmes=set(programme_ids.values()),
            )
        except ValidationFailed as error:
            line_errors += [
                message.rstrip(".")
                for field, message in error.errors.items()
                if field != "programme_id" or not line_errors
            ]
            values = None
        if values is not None:
            key = (values["indicator"], values["year"], values["department_code"], values["programme_id"])
            if key in cleaned and cleaned[key][1]["value"] != values["value"]:
                line_errors.append(f"même cible que la ligne {cleaned[key][0]} avec une autre valeur")
            cleaned[key] = (number, values)
        if line_errors:
            errors.append(f"Ligne {number} : " + " ; ".join(line_errors) + ".")
    if errors:
        raise ImportFailed(errors)
    summary = Summary()
    for _number, values in cleaned.values():
        summary.add(upsert(values, user_id=user.id, origin="import")[1])
    db.session.commit()
    return summary


def current_year() -> int:
    return local_today().year
