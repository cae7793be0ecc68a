"""Bulk insertion of structures with their audit entries and domain events (Core, no ORM objects)."""

from __future__ import annotations

from sqlalchemy import insert, select

from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent, utcnow
from crm.referential.models import Category, Sector
from crm.structures.models import Structure

# What the audit entry of a created structure shows (as structures.services.STRUCTURE_FIELDS).
AUDITED = (
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
    "notes",
)


def category_index() -> dict[str, tuple[int, int | None, str | None]]:
    """Category code -> (category id, sector id, sector code)."""
    rows = db.session.execute(
        select(Category.code, Category.id, Category.sector_id, Sector.code).outerjoin(
            Sector, Sector.id == Category.sector_id
        )
    ).all()
    return {code: (cid, sid, scode) for code, cid, sid, scode in rows}


def insert_structures(rows: list[dict], *, origin: str = "seed", chunk: int = 2000) -> list[int]:
    """Insert hand-made ("manuel") structures, each with an audit entry and a
    ``structure.created`` event, in the caller's transaction (the caller commits).

    Each row needs ``name``, ``department_code`` and ``category`` (a category code); the sector
    follows the category. Returns the new ids.
    """
    categories = category_index()
    sector_codes = {sid: scode for _, sid, scode in categories.values()}
    category_codes = {cid: code for code, (cid, _, _) in categories.items()}
    table = Structure.__table__
    now = utcnow()
    ids: list[int] = []
    for start in range(0, len(rows), chunk):
        values = []
        for row in rows[start : start + chunk]:
            row = dict(row)
            category_id, sector_id, _ = categories[row.pop("category")]
            value = {
                "finess_et": None,
                "finess_ej": None,
                "siret": None,
                "long_name": None,
                "address": None,
                "postal_code": None,
                "commune": None,
                "commune_code": None,
                "phone": None,
                "email": None,
                "website": None,
                "notes": None,
                "is_open": True,
                **row,
                "category_id": category_id,
                "sector_id": sector_id,
                "source": "manuel",
                "manual_fields": [],
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
            value["search_text"] = Structure.build_search_text(
                value["name"],
                value["long_name"],
                value["finess_et"],
                value["commune"],
                value["postal_code"],
                value["siret"],
            )
            values.append(value)
        new_ids = (
            db.session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), values)
            .scalars()
            .all()
        )
        audit, outbox = [], []
        for structure_id, value in zip(new_ids, values):
            changes = {k: [None, value[k]] for k in AUDITED if value.get(k) is not None}
            audit.append(
                {
                    "at": now,
                    "user_id": None,
                    "origin": origin,
                    "entity_type": "structure",
                    "entity_id": structure_id,
                    "action": "create",
                    "changes": changes,
                }
            )
            outbox.append(
                {
                    "type": "structure.created",
                    "aggregate_type": "structure",
                    "aggregate_id": structure_id,
                    "payload": {
                        "structure_id": structure_id,
                        "finess_et": value["finess_et"],
                        "department": value["department_code"],
                        "sector": sector_codes.get(value["sector_id"]),
                        "category": category_codes[value["category_id"]],
                        "is_open": value["is_open"],
                    },
                    "actor_id": None,
                    "created_at": now,
                    "attempts": 0,
                }
            )
        db.session.execute(insert(AuditEntry.__table__), audit)
        db.session.execute(insert(OutboxEvent.__table__), outbox)
        ids.extend(new_ids)
    return ids
