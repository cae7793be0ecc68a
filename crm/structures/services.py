"""Structure and contact operations: what the UI, the API, the CLI and jobs all call."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from email_validator import validate_email
from sqlalchemy import String, case, func, select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from crm.platform import paging, signals
from crm.platform.concurrency import StaleEdit
from crm.platform.dates import local_today
from crm.platform.events import diff, record_change
from crm.platform.extensions import db
from crm.platform.formatting import format_date
from crm.platform.paging import CursorError, Page, PageTooDeep
from crm.platform.text import fold, search_tokens
from crm.platform.validation import ValidationFailed, email_error, line_break_error, parse_date, parse_int
from crm.platform.validation import blank as _blank
from crm.referential.models import Category, Department, Sector
from crm.structures.identifiers import clean_identifier, finess_error, siret_error
from crm.structures.models import FINESS_FIELDS, HAND_KEPT_STATE, Structure

STRUCTURE_FIELDS = (
    "name",
    "long_name",
    "finess_et",
    "finess_ej",
    "siret",
    "sector_id",
    "category_id",
    "address",
    "postal_code",
    "commune",
    "department_code",
    "phone",
    "email",
    "website",
    "is_open",
    "closed_on",
    "notes",
)
SORTS = {
    "nom": (Structure.name, Structure.id),
    "commune": (Structure.commune, Structure.name),
    "departement": (Structure.department_code, Structure.name),
    "finess": (Structure.finess_et, Structure.id),
    "maj": (Structure.updated_at.desc(), Structure.id.desc()),
}


def _clean_email(value: str | None, errors: dict, field: str = "email") -> str | None:
    value = _blank(value)
    if value is None:
        return None
    if message := email_error(value):
        errors[field] = message
        return value
    return validate_email(value, check_deliverability=False).normalized


def _clean_phone(value: str | None, errors: dict, field: str = "phone") -> str | None:
    value = _blank(value)
    if value is None:
        return None
    digits = re.sub(r"[\s.\-()]", "", value)
    if not re.fullmatch(r"\+?\d{9,15}", digits):
        errors[field] = "Numéro de téléphone invalide."
        return value
    return digits


def clean_structure_data(data: dict, current: Structure | None = None) -> dict:
    """Normalise and validate structure input; raises ValidationFailed with every field error."""
    errors: dict[str, str] = {}
    out: dict = {}
    name = _blank(data.get("name"))
    if not name:
        errors["name"] = "Le nom de la structure est obligatoire."
    elif len(name) > 255:
        errors["name"] = "Le nom ne doit pas dépasser 255 caractères."
    elif message := line_break_error(name):
        errors["name"] = message
    out["name"] = name
    out["long_name"] = _blank(data.get("long_name"))
    for field in ("finess_et", "finess_ej"):
        value = clean_identifier(data.get(field)) or None
        if value and (message := finess_error(value)):
            errors[field] = message
        out[field] = value
    siret = clean_identifier(data.get("siret")) or None
    if siret and (message := siret_error(siret)):
        errors["siret"] = message
    out["siret"] = siret

    department_code = _blank(data.get("department_code"))
    if not department_code:
        errors["department_code"] = "Le département est obligatoire."
    elif db.session.get(Department, str(department_code).upper()) is None:
        errors["department_code"] = f"Département inconnu : {department_code}."
    else:
        department_code = str(department_code).upper()
    out["department_code"] = department_code

    category = sector = None
    for field, model in (("category_id", Category), ("sector_id", Sector)):
        raw = _blank(data.get(field))
        if raw is None:
            out[field] = None
            continue
        number = parse_int(raw, {}, field, minimum=1, maximum=2**31 - 1)
        obj = db.session.get(model, number) if number else None
        if obj is None:
            errors[field] = "Valeur inconnue."
        out[field] = obj.id if obj else None
        if field == "category_id":
            category = obj
        else:
            sector = obj
    if category is not None and category.sector_id and sector is None:
        out["sector_id"] = category.sector_id
    elif category is not None and sector is not None and category.sector_id and category.sector_id != sector.id:
        errors["category_id"] = "Cette catégorie n'appartient pas au secteur choisi."

    postal_code = _blank(data.get("postal_code"))
    if postal_code and not re.fullmatch(r"\d{5}", str(postal_code)):
        errors["postal_code"] = "Le code postal doit comporter 5 chiffres."
    out["postal_code"] = postal_code
    out["address"] = _blank(data.get("address"))
    out["commune"] = _blank(data.get("commune"))
    out["phone"] = _clean_phone(data.get("phone"), errors)
    out["email"] = _clean_email(data.get("email"), errors)
    website = _blank(data.get("website"))
    if website and not re.match(r"^https?://[^\s]+\.[^\s]+$", website):
        errors["website"] = "L'adresse du site doit commencer par http:// ou https://."
    out["website"] = website
    out["notes"] = _blank(data.get("notes"))
    out["is_open"] = bool(data.get("is_open", True))
    out["closed_on"] = _clean_closed_on(data.get("closed_on"), out["is_open"], current, errors)
    for field in ("long_name", "address", "commune"):
        if out[field] and len(out[field]) > (120 if field == "commune" else 255):
            errors[field] = "Texte trop long."
        elif field != "address" and (message := line_break_error(out[field])):
            errors[field] = message

    if out["finess_et"] and "finess_et" not in errors:
        existing = db.session.scalar(select(Structure).where(Structure.finess_et == out["finess_et"]))
        if existing is not None and existing is not current:
            errors["finess_et"] = "Une structure porte déjà ce numéro FINESS."
            raise ValidationFailed(errors, existing=existing)
    if errors:
        raise ValidationFailed(errors)
    return out


def _clean_closed_on(value, is_open: bool, current: Structure | None, errors: dict) -> date | None:
    """The day the structure closed (the indicators count it in the periods it was open in): not in the
    future, not before its opening; none for an open structure. A form or an API patch that reopens a
    structure still carries its old date: only a new date beside "open" is refused."""
    closed_on = parse_date(value, errors, "closed_on")
    if closed_on is None:
        return None
    if is_open:
        if current is None or closed_on != current.closed_on:
            errors["closed_on"] = (
                "Une structure ouverte n'a pas de date de fermeture : décochez « Structure "
                "ouverte » ou effacez la date."
            )
        return None
    if closed_on > local_today():
        errors["closed_on"] = "La date de fermeture ne peut pas être dans le futur."
    elif current is not None and current.opened_on and closed_on < current.opened_on:
        errors["closed_on"] = (
            f"La date de fermeture ne peut pas précéder la date d'ouverture ({format_date(current.opened_on)})."
        )
    return closed_on


def _snapshot(structure: Structure) -> dict:
    return {field: getattr(structure, field) for field in STRUCTURE_FIELDS}


class _Guard:
    """Runs flush/record/commit; the database's refusals become French errors, nothing is left written."""

    def __init__(self, structure: Structure | None = None):
        self.structure = structure

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                db.session.commit()
                return False
            except (IntegrityError, DataError, StaleDataError) as error:
                exc_type, exc = type(error), error
        if exc_type is not None and issubclass(exc_type, (IntegrityError, DataError, StaleDataError)):
            db.session.rollback()
            raise _explain(exc, self.structure) from exc
        if exc_type is not None:
            db.session.rollback()
        return False


def persist(structure: Structure | None = None) -> _Guard:
    """``with persist(structure): flush, record_change`` commits, or rolls back and explains."""
    return _Guard(structure)


def _explain(error: Exception, structure: Structure | None) -> Exception:
    if isinstance(error, StaleDataError):
        return StaleEdit(
            "Cette fiche a été modifiée par quelqu'un d'autre entre-temps. "
            "Rechargez la page pour voir ses nouvelles valeurs."
        )
    finess_et = structure.finess_et if structure is not None else None
    existing = None
    if finess_et:
        existing = db.session.scalar(select(Structure).where(Structure.finess_et == finess_et))
    if existing is not None:
        return ValidationFailed({"finess_et": "Une structure porte déjà ce numéro FINESS."}, existing=existing)
    return ValidationFailed({"__all__": "L'enregistrement a été refusé par la base de données."})


def create_structure(data: dict, *, origin: str | None = None) -> Structure:
    """Create a structure by hand (not from FINESS). One created closed keeps the closing date given, or none:
    then it counts in no period's population (docs/indicators.md)."""
    values = clean_structure_data(data)
    structure = Structure(source="manuel", manual_fields=[], **values)
    structure.refresh_search_text()
    with persist(structure):
        db.session.add(structure)
        db.session.flush()
        record_change(
            entity_type="structure",
            entity_id=structure.id,
            action="create",
            changes=diff({}, _snapshot(structure)),
            event_type="structure.created",
            payload=structure.payload(),
            origin=origin,
        )
    return structure


def update_structure(structure: Structure, data: dict, *, expected_version: int | None = None) -> Structure:
    """Apply an edit; FINESS-owned fields edited by hand are remembered as manual. Closing a structure without
    a date closes it today; its closing date (``closed_on``) is written, audited and sent with the event, so
    that the indicators move."""
    if expected_version is not None and expected_version != structure.version:
        raise _explain(StaleDataError(), structure)
    values = clean_structure_data(data, current=structure)
    before = _snapshot(structure)
    was_open = structure.is_open
    for field, value in values.items():
        setattr(structure, field, value)
    if was_open and not structure.is_open and structure.closed_on is None:
        structure.closed_on = local_today()
    changes = diff(before, _snapshot(structure))
    if not changes:
        return structure
    if structure.source == "finess":
        structure.manual_fields = sorted(
            set(structure.manual_fields or []) | (set(changes) & set(FINESS_FIELDS + HAND_KEPT_STATE))
        )
    structure.refresh_search_text()
    event = "structure.closed" if was_open and not structure.is_open else "structure.updated"
    with persist(structure):
        db.session.flush()
        record_change(
            entity_type="structure",
            entity_id=structure.id,
            action="update",
            changes=changes,
            event_type=event,
            payload={**structure.payload(), "changed": sorted(changes)},
        )
        if "department_code" in changes:
            signals.structure_department_changed.send(structure, structure_ids=[structure.id])
    return structure


def delete_structure(structure: Structure) -> None:
    with persist():
        record_change(
            entity_type="structure",
            entity_id=structure.id,
            action="delete",
            changes=diff(_snapshot(structure), {}),
            event_type="structure.deleted",
            payload=structure.payload(),
        )
        db.session.delete(structure)


# --- search -------------------------------------------------------------------------------------


def structure_filters(
    q: str | None = None,
    department: str | None = None,
    sector: int | None = None,
    category: int | None = None,
    status: str | None = None,
) -> list:
    """WHERE clauses for the structure list, shared by the UI, the API and exports."""
    clauses = [Structure.search_text.contains(token, autoescape=True) for token in search_tokens(q)]
    if department:
        clauses.append(Structure.department_code == department)
    if sector:
        clauses.append(Structure.sector_id == sector)
    if category:
        clauses.append(Structure.category_id == category)
    if status == "ouvertes":
        clauses.append(Structure.is_open.is_(True))
    elif status == "fermees":
        clauses.append(Structure.is_open.is_(False))
    return clauses


@dataclass(frozen=True)
class ExtraFilter:
    """A filter of the structure list a domain above structures adds (the services' "non équipées pour…",
    issue 14): its query argument, label, choices and SQL condition (None for a value it does not know)."""

    arg: str
    label: str
    choices: Callable[[], list[tuple[str, str]]]
    clause: Callable[[str], object]


EXTRA_FILTERS: list[ExtraFilter] = []


def register_filter(extra: ExtraFilter) -> None:
    if all(f.arg != extra.arg for f in EXTRA_FILTERS):
        EXTRA_FILTERS.append(extra)


def search_structures(
    q: str | None = None,
    *,
    department: str | None = None,
    sector: int | None = None,
    category: int | None = None,
    status: str | None = "ouvertes",
    sort: str = "nom",
    page: int = 1,
    per_page: int = 25,
    cursor: str | None = None,
    extra: dict[str, str] | None = None,
) -> Page:
    """A page of the structure list. Numbered pages go as deep as MAX_OFFSET rows (the last page of
    100,000 structures skipped them all in a sort); beyond, PageTooDeep asks for a narrower filter.
    The list has several sorts and no cursor: one given is refused (CursorError)."""
    if cursor:
        raise CursorError(cursor)
    if (max(1, page) - 1) * per_page > paging.MAX_OFFSET:
        raise PageTooDeep(page)
    clauses = structure_filters(q, department, sector, category, status)
    for extra_filter in EXTRA_FILTERS:
        value = (extra or {}).get(extra_filter.arg)
        clause = extra_filter.clause(value) if value else None
        if clause is not None:
            clauses.append(clause)
    order = list(SORTS.get(sort, SORTS["nom"]))
    trigram = any(len(token) >= 3 for token in search_tokens(q))
    if trigram:
        # The trigram index serves the words; sorting on ``name || ''`` keeps PostgreSQL from
        # walking the name (or FINESS, department) index in order and filtering row by row
        # instead: "ssiad" (all its matches sort late) took 130 ms that way at 100,000
        # structures, 6 ms through the trigram index and a top-N sort.
        order = [column.concat("") if isinstance(getattr(column, "type", None), String) else column for column in order]
    exact = clean_identifier(q)
    if q and re.fullmatch(r"[0-9AB]{9}|\d{14}", exact):
        order.insert(0, case((Structure.finess_et == exact, 0), (Structure.siret == exact, 0), else_=1))
    page = max(1, page)
    offset = (page - 1) * per_page

    def count() -> int:
        return db.session.scalar(select(func.count()).select_from(Structure).where(*clauses)) or 0

    # Ids first, on narrow rows; the page's structures (with their joined sector, category and
    # department) are loaded afterwards, so the joins run on 25 rows, not on every match.
    if trigram:
        # The matches are read once anyway to be sorted: the same pass counts them.
        rows = db.session.execute(
            select(Structure.id, func.count().over()).where(*clauses).order_by(*order).offset(offset).limit(per_page)
        ).all()
        ids = [row[0] for row in rows]
        total = rows[0][1] if rows else (0 if page == 1 else count())
    else:
        total = count()
        ids = list(
            db.session.scalars(select(Structure.id).where(*clauses).order_by(*order).offset(offset).limit(per_page))
        )
    loaded = {s.id: s for s in db.session.scalars(select(Structure).where(Structure.id.in_(ids)))} if ids else {}
    items = [loaded[i] for i in ids if i in loaded]
    return Page(items=items, total=total, page=page, per_page=per_page)


def autocomplete(q: str, limit: int = 10, open_only: bool = True) -> list[dict]:
    """Suggestions for structure pickers: open structures matching every word typed."""
    if len(fold(q)) < 2:
        return []
    page = search_structures(q, status="ouvertes" if open_only else None, per_page=limit)
    return [
        {
            "id": s.id,
            "name": s.name,
            "finess_et": s.finess_et,
            "commune": s.commune,
            "department": s.department_code,
            "label": f"{s.name} – {s.commune or ''} ({s.department_code})"
            + (f" – {s.finess_et}" if s.finess_et else ""),
        }
        for s in page.items
    ]
