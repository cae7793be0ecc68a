"""Loading and reading reference data."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crm.platform.events import diff, record_change
from crm.platform.extensions import db
from crm.platform.validation import as_id
from crm.referential.kinds import Kind, kinds
from crm.referential.models import (
    Category,
    Department,
    FinessCategoryMapping,
    Offer,
    Programme,
    Region,
    Sector,
)

DATA_DIR = Path(__file__).parent / "data"


@lru_cache(maxsize=1)
def _reference() -> dict:
    return json.loads((DATA_DIR / "reference.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _departments() -> list[dict]:
    return json.loads((DATA_DIR / "departements.json").read_text(encoding="utf-8"))


def load_reference_data() -> dict[str, int]:
    """Insert the reference rows that are missing; never overwrite an admin's edits.

    Idempotent: run at every start of the app, it adds nothing the second time.
    """
    added: dict[str, int] = {}

    def add(kind: str, obj) -> None:
        db.session.add(obj)
        added[kind] = added.get(kind, 0) + 1

    regions = {r.code for r in db.session.scalars(select(Region))}
    for dep in _departments():
        if dep["region_code"] not in regions:
            add("regions", Region(code=dep["region_code"], name=dep["region_name"]))
            regions.add(dep["region_code"])
    db.session.flush()
    departments = {d.code for d in db.session.scalars(select(Department))}
    for dep in _departments():
        if dep["code"] not in departments:
            add("departments", Department(code=dep["code"], name=dep["name"], region_code=dep["region_code"]))

    data = _reference()
    sectors = {s.code: s for s in db.session.scalars(select(Sector))}
    for position, row in enumerate(data["sectors"]):
        if row["code"] not in sectors:
            sector = Sector(code=row["code"], label=row["label"], is_es_esms=row["is_es_esms"], position=position)
            add("sectors", sector)
            sectors[row["code"]] = sector
    db.session.flush()
    categories = {c.code: c for c in db.session.scalars(select(Category))}
    for row in data["categories"]:
        if row["code"] not in categories:
            category = Category(code=row["code"], label=row["label"], sector_id=sectors[row["sector"]].id)
            add("categories", category)
            categories[row["code"]] = category
    db.session.flush()
    mappings = {m.finess_code for m in db.session.scalars(select(FinessCategoryMapping))}
    for row in data["finess_categories"]:
        if row["code"] not in mappings:
            add(
                "finess_categories",
                FinessCategoryMapping(
                    finess_code=row["code"], finess_label=row["label"], category_id=categories[row["category"]].id
                ),
            )
    programmes = {p.code: p for p in db.session.scalars(select(Programme))}
    offers = {o.code for o in db.session.scalars(select(Offer))}
    for row in data["programmes"]:
        programme = programmes.get(row["code"])
        if programme is None:
            programme = Programme(
                number=row["number"], code=row["code"], label=row["label"], target_sectors=row["target_sectors"]
            )
            add("programmes", programme)
            db.session.flush()
        for code, label in row["offers"]:
            if code not in offers:
                add("offers", Offer(code=code, label=label, programme_id=programme.id))
    for kind in kinds().values():  # the editable lists of the domains above (loss reasons, event types)
        if kind.seed is None:
            continue
        existing = set(db.session.scalars(select(getattr(kind.model, kind.seed.unique))))
        for position, item in enumerate(data.get(kind.seed.data_key, [])):
            values = kind.seed.make(position, item)
            if values[kind.seed.unique] not in existing:
                add(kind.seed.data_key, kind.model(**values))
    db.session.commit()
    return added


class ReferenceConflict(Exception):
    """The row would repeat a unique code, or points at a row that no longer exists."""


def save_reference_row(name: str, kind: Kind, obj, values: dict):
    """Create (``obj`` None) or update a reference row of ``kind`` with ``values``, record the change and
    commit; returns the row. Raises ReferenceConflict, with the session rolled back, on a duplicate."""
    before = {field: getattr(obj, field) for field in values} if obj is not None else {}
    creating = obj is None
    if creating:
        obj = kind.model()
        db.session.add(obj)
    for field, value in values.items():
        setattr(obj, field, value)
    try:
        db.session.flush()
        entity_id = getattr(obj, kind.key)
        record_change(
            entity_type=f"ref_{name}",
            entity_id=as_id(entity_id) or 0,
            action="create" if creating else "update",
            changes=diff(before, values_of(obj, kind)),
            event_type="reference.changed",
            payload={"kind": name, "key": str(entity_id)},
        )
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        raise ReferenceConflict from error
    return obj


def values_of(obj, kind: Kind) -> dict:
    """The values an admin edits on a row of ``kind``."""
    return {name: getattr(obj, name) for name, *_ in kind.fields}


def region_department_codes(region_code: str | None = None) -> list[str]:
    """Department codes of the configured region (or of ``region_code``)."""
    region_code = region_code or current_app.config["CRM_REGION_CODE"]
    return [d["code"] for d in _departments() if d["region_code"] == region_code]


def all_department_codes() -> list[str]:
    return [d["code"] for d in _departments()]


@lru_cache(maxsize=1)
def _department_code_set() -> frozenset[str]:
    return frozenset(all_department_codes())


def known_department(code) -> bool:
    """A department code of the loaded list (without a query: the 101 departments are fixed data)."""
    return isinstance(code, str) and code in _department_code_set()


def departments_for_select(region_only: bool = False) -> list[Department]:
    query = select(Department).order_by(Department.code)
    if region_only:
        query = query.where(Department.region_code == current_app.config["CRM_REGION_CODE"])
    return list(db.session.scalars(query))


# The label of the group the department selects keep for the departments outside the region; static/js/app.js
# hides that group behind "Afficher les autres départements" unless the value chosen is in it.
OTHER_DEPARTMENTS = "Autres départements"


def department_choices(blank: str | None = None, departments: list[Department] | None = None) -> dict:
    """The choices of every department select: the region's departments first, the others in a group after them.

    The shape is WTForms' grouped choices (``{None: [...], label: [...]}``), also read by the
    ``department_options`` macro for the hand-written filter selects. Every department stays a valid
    choice (a record outside the region keeps its value); the region's come first because they are
    nearly always the answer. ``departments`` narrows the list (an animator's own departments).
    """
    region = current_app.config["CRM_REGION_CODE"]
    departments = departments_for_select() if departments is None else departments
    first = [("", blank)] if blank is not None else []
    first += [(d.code, d.label) for d in departments if d.region_code == region]
    others = [(d.code, d.label) for d in departments if d.region_code != region]
    return {None: first, OTHER_DEPARTMENTS: others} if others else {None: first}
