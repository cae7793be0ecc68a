"""The services' deployment in the demo data: a status per eligible structure for the followed services, and
a year of monthly usage figures for those in production or in active use.

``demo``: SPICO, ViaTrajectoire and MSSanté; ``region`` and ``national``: two more (DMP, Pro Santé Connect),
over their many more structures. Inserted in bulk (Core), each status with its audit entry and
``deployment.status_changed`` event, each offer's figures with one ``usage.imported`` event, as an import
would write them. Seeding again adds nothing (an offer that has statuses is left as it is).
"""

from __future__ import annotations

import random
from datetime import date

from sqlalchemy import insert, select

from crm.deployment.models import StructureDeployment, UsageFigure
from crm.deployment.services import FEATURED_OFFERS, offer_by_code, population, save_offer_settings
from crm.platform.dates import local_today
from crm.platform.event_types import require_known
from crm.platform.events import note_outbox_written, record_change
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent, utcnow
from crm.referential.models import Category, Sector
from crm.structures.models import Structure

MORE_OFFERS = ("DMP", "PSC")
# Per offer: the metric (name, unit), and the usual monthly value of a structure in active use.
METRICS = {
    "SPICO_DOSSIERS": ("Utilisateurs actifs", "utilisateurs", 12),
    "VT_SANITAIRE": ("Demandes d'orientation", "demandes", 25),
    "MSSANTE": ("Messages envoyés", "messages", 180),
    "DMP": ("Documents alimentés", "documents", 300),
    "PSC": ("Connexions", "connexions", 90),
}
# The share of eligible structures in each status (the rest: no status yet).
SHARES = (
    ("non_concerne", 0.04),
    ("a_sensibiliser", 0.16),
    ("en_projet", 0.14),
    ("deploye", 0.12),
    ("en_production", 0.10),
    ("usage_actif", 0.30),
)
CHUNK = 5000
MONTHS = 12


def _months(today: date) -> list[date]:
    """The twelve months before the current one, oldest first."""
    index = today.year * 12 + today.month - 1
    return [date((index - k) // 12, (index - k) % 12 + 1, 1) for k in range(MONTHS, 0, -1)]


def _status(rng: random.Random) -> str | None:
    draw = rng.random()
    for status, share in SHARES:
        if draw < share:
            return status
        draw -= share
    return None


def seed_deployment(scale: str) -> list[str]:
    codes = FEATURED_OFFERS + (MORE_OFFERS if scale != "demo" else ())
    require_known("deployment.status_changed")
    today = local_today()
    months = _months(today)
    sectors = dict(db.session.execute(select(Sector.id, Sector.code)).all())
    categories = dict(db.session.execute(select(Category.id, Category.code)).all())
    lines = []
    for code in codes:
        offer = offer_by_code(code)
        if offer is None:
            continue
        if db.session.scalar(select(StructureDeployment.id).where(StructureDeployment.offer_id == offer.id).limit(1)):
            lines.append(f"Services : {offer.label} déjà renseigné.")
            continue
        name, unit, usual = METRICS[code]
        save_offer_settings(
            offer,
            {
                "metric_name": name,
                "metric_unit": unit,
                "column_mapping": {"identifier": "finess", "month": "mois", "value": "valeur"},
            },
            user_id=None,
            origin="seed",
        )
        rng = random.Random(f"deployment-{code}")
        structures = db.session.execute(
            select(Structure.id, Structure.department_code, Structure.sector_id, Structure.category_id)
            .where(population(offer).condition())
            .order_by(Structure.id)
        ).all()
        deployments, usage, active = [], [], []
        for structure_id, department, sector_id, category_id in structures:
            status = _status(rng)
            if status is None:
                continue
            deployments.append((structure_id, status, department, sectors.get(sector_id), categories.get(category_id)))
            if status in ("en_production", "usage_actif"):
                size = rng.uniform(0.3, 2.5) * usual
                start = rng.randrange(0, 6) if status == "usage_actif" else MONTHS  # months before its first use
                for k, month in enumerate(months):
                    growth = 0.6 + 0.4 * k / (MONTHS - 1)
                    value = 0 if k < start else max(0, round(size * growth * rng.uniform(0.8, 1.2)))
                    if status == "usage_actif" and k == MONTHS - 1:
                        value = max(1, value)
                    usage.append((structure_id, month, value))
                if status == "usage_actif":
                    active.append(structure_id)
        _insert_statuses(offer.id, deployments, today)
        now = utcnow()
        table = UsageFigure.__table__
        for start in range(0, len(usage), CHUNK):
            db.session.execute(
                insert(table),
                [
                    {
                        "structure_id": s,
                        "offer_id": offer.id,
                        "month": m,
                        "value": v,
                        "source": "seed",
                        "updated_at": now,
                    }
                    for s, m, v in usage[start : start + CHUNK]
                ],
            )
        record_change(
            entity_type="offer_usage",
            entity_id=offer.id,
            action="import",
            changes={"created": len(usage)},
            event_type="usage.imported",
            payload={
                "offer_id": offer.id,
                "source": "seed",
                "months": [m.strftime("%Y-%m") for m in months],
                "written": len(usage),
                "rejected": 0,
                "structure_ids": sorted({s for s, _m, _v in usage}),
            },
            origin="seed",
        )
        db.session.commit()
        lines.append(
            f"Services : {offer.label} – {len(deployments)} statuts sur {len(structures)} structures éligibles, "
            f"{len(usage)} chiffres d'usage mensuels ({len(active)} structures en usage actif)."
        )
    return lines


def _insert_statuses(offer_id: int, deployments: list[tuple], today: date) -> None:
    now = utcnow()
    table = StructureDeployment.__table__
    for start in range(0, len(deployments), CHUNK):
        chunk = deployments[start : start + CHUNK]
        ids = (
            db.session.execute(
                insert(table).returning(table.c.id, sort_by_parameter_order=True),
                [
                    {
                        "structure_id": s,
                        "offer_id": offer_id,
                        "status": status,
                        "status_on": today,
                        "source": "import" if status == "usage_actif" else "manuel",
                        "author_id": None,
                        "updated_at": now,
                    }
                    for s, status, _d, _sec, _cat in chunk
                ],
            )
            .scalars()
            .all()
        )
        audit, outbox = [], []
        for deployment_id, (s, status, department, sector, category) in zip(ids, chunk):
            source = "import" if status == "usage_actif" else "manuel"
            audit.append(
                {
                    "at": now,
                    "user_id": None,
                    "origin": "seed",
                    "entity_type": "structure_deployment",
                    "entity_id": deployment_id,
                    "action": "create",
                    "changes": {"status": [None, status], "source": [None, source]},
                    "parent_type": "structure",
                    "parent_id": s,
                }
            )
            outbox.append(
                {
                    "type": "deployment.status_changed",
                    "aggregate_type": "structure_deployment",
                    "aggregate_id": deployment_id,
                    "payload": {
                        "deployment_id": deployment_id,
                        "structure_id": s,
                        "offer_id": offer_id,
                        "department": department,
                        "sector": sector,
                        "category": category,
                        "from_status": None,
                        "to_status": status,
                        "status_on": today.isoformat(),
                        "source": source,
                    },
                    "actor_id": None,
                    "created_at": now,
                    "attempts": 0,
                }
            )
        db.session.execute(insert(AuditEntry.__table__), audit)
        db.session.execute(insert(OutboxEvent.__table__), outbox)
    note_outbox_written()
