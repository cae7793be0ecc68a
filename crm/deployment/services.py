"""Deployment statuses, eligibility and usage: read for the pages, written with their audit entry and event.

A status moves by hand (an animator on the structure's page), by a workflow rule (a project or a won
opportunity: "en projet", never lowering a higher status) or by an import (usage above zero in a month:
"usage actif"). Every change is recorded (:func:`crm.platform.events.record_change`) in the caller's
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, func, or_, select

from crm.accounts import permissions
from crm.deployment.models import (
    DEFAULT_LABELS,
    RANKS,
    SOURCES,
    STATUSES,
    DeploymentStatus,
    EligibilityOverride,
    OfferDeploymentSettings,
    StructureDeployment,
    UsageFigure,
)
from crm.platform.dates import local_today
from crm.platform.events import record_change
from crm.platform.extensions import db
from crm.platform.formatting import MONTHS_SHORT
from crm.platform.models import utcnow
from crm.platform.validation import ValidationFailed
from crm.referential.models import Category, Offer, Sector
from crm.structures.models import Structure

# The three services the demo seeds and the service view opens on.
FEATURED_OFFERS = ("SPICO_DOSSIERS", "VT_SANITAIRE", "MSSANTE")


def can_set_status(user, structure: Structure) -> bool:
    return permissions.can_edit_structure(user, structure)


def status_labels() -> dict[str, str]:
    """code -> label, the admin's labels over the defaults, in rank order."""
    stored = dict(db.session.execute(select(DeploymentStatus.code, DeploymentStatus.label)).all())
    return {code: stored.get(code) or label for code, label in STATUSES}


def status_choices() -> list[tuple[str, str]]:
    return list(status_labels().items())


def source_label(source: str) -> str:
    return SOURCES.get(source, source)


# --- Status ----------------------------------------------------------------------------------------------


def deployment_payload(deployment: StructureDeployment, structure: Structure, from_status: str | None) -> dict:
    return {
        "deployment_id": deployment.id,
        "structure_id": structure.id,
        "offer_id": deployment.offer_id,
        "department": structure.department_code,
        "sector": structure.sector.code if structure.sector else None,
        "category": structure.category.code if structure.category else None,
        "from_status": from_status,
        "to_status": deployment.status,
        "status_on": deployment.status_on,
        "source": deployment.source,
    }


def get_deployment(structure_id: int, offer_id: int) -> StructureDeployment | None:
    return db.session.scalar(
        select(StructureDeployment).where(
            StructureDeployment.structure_id == structure_id, StructureDeployment.offer_id == offer_id
        )
    )


def set_status(
    structure: Structure,
    offer_id: int,
    status: str,
    *,
    source: str,
    user_id: int | None = None,
    origin: str | None = None,
    on: date | None = None,
    only_upgrade: bool = False,
    current: StructureDeployment | None = None,
) -> StructureDeployment | None:
    """Set the status of (structure, offer) and record it; returns the row, or None when nothing changed
    (same status, or a lower one with ``only_upgrade``). The caller commits."""
    if status not in RANKS:
        raise ValidationFailed({"status": "Choisissez un statut de la liste."})
    if source not in SOURCES:
        raise ValueError(f"unknown deployment source {source!r}")
    deployment = current if current is not None else get_deployment(structure.id, offer_id)
    from_status = deployment.status if deployment is not None else None
    if from_status == status:
        return None
    if only_upgrade and from_status is not None and RANKS.get(from_status, 0) >= RANKS[status]:
        return None
    if deployment is None:
        deployment = StructureDeployment(structure_id=structure.id, offer_id=offer_id)
        db.session.add(deployment)
    deployment.status = status
    deployment.status_on = on or local_today()
    deployment.source = source
    deployment.author_id = user_id
    deployment.updated_at = utcnow()
    db.session.flush()
    record_change(
        entity_type="structure_deployment",
        entity_id=deployment.id,
        action="create" if from_status is None else "update",
        changes={"status": [from_status, status], "source": [None, source]},
        event_type="deployment.status_changed",
        payload=deployment_payload(deployment, structure, from_status),
        user_id=user_id,
        origin=origin,
        parent=("structure", structure.id),
    )
    return deployment


def set_status_by_hand(structure: Structure, offer_id: int, status: str, *, user) -> StructureDeployment | None:
    if not can_set_status(user, structure):
        raise PermissionError
    offer = db.session.get(Offer, offer_id)
    if offer is None or not offer.active:
        raise ValidationFailed({"offer_id": "Choisissez une offre de la liste."})
    deployment = set_status(structure, offer.id, status, source="manuel", user_id=user.id)
    db.session.commit()
    return deployment


def raise_to_en_projet(
    structure_id: int, offer_id: int | None, *, user_id: int | None, origin: str
) -> StructureDeployment | None:
    """The rules' move: "en projet", unless the structure is there or beyond already."""
    structure = db.session.get(Structure, structure_id)
    if structure is None or offer_id is None or db.session.get(Offer, offer_id) is None:
        return None
    return set_status(
        structure, offer_id, "en_projet", source="regle", user_id=user_id, origin=origin, only_upgrade=True
    )


# --- Eligibility -----------------------------------------------------------------------------------------


def _codes(text: str | None) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def offer_settings(offer: Offer) -> OfferDeploymentSettings:
    """The offer's settings, or the defaults (not added to the session) when none were saved."""
    settings = db.session.get(OfferDeploymentSettings, offer.id)
    if settings is None:
        settings = OfferDeploymentSettings(
            offer_id=offer.id,
            eligible_sectors="",
            eligible_categories="",
            metric_name="Utilisateurs actifs",
            metric_unit="utilisateurs",
            column_mapping={},
        )
    return settings


@dataclass(frozen=True)
class Population:
    """Who an offer is for: sector and category ids, plus the structures added or excluded by hand."""

    sector_ids: frozenset[int]
    category_ids: frozenset[int]
    included: frozenset[int]
    excluded: frozenset[int]

    def contains(self, structure_id: int, sector_id: int | None, category_id: int | None, is_open: bool) -> bool:
        """Open, not excluded, and added by hand or of an eligible sector or category."""
        if not is_open or structure_id in self.excluded:
            return False
        return structure_id in self.included or sector_id in self.sector_ids or category_id in self.category_ids

    def condition(self):
        """The same test as a SQL condition on ``structures``."""
        condition = and_(
            Structure.is_open.is_(True),
            or_(
                Structure.sector_id.in_(self.sector_ids or [-1]),
                Structure.category_id.in_(self.category_ids or [-1]),
                Structure.id.in_(self.included or [-1]),
            ),
        )
        if self.excluded:
            condition = and_(condition, Structure.id.not_in(self.excluded))
        return condition


def population(offer: Offer) -> Population:
    settings = offer_settings(offer)
    sector_codes = _codes(settings.eligible_sectors)
    category_codes = _codes(settings.eligible_categories)
    if not sector_codes and not category_codes:
        sector_codes = _codes(offer.programme.target_sectors)
    sector_ids = set(db.session.scalars(select(Sector.id).where(Sector.code.in_(sector_codes or ["-"]))))
    category_ids = set(db.session.scalars(select(Category.id).where(Category.code.in_(category_codes or ["-"]))))
    overrides = db.session.execute(
        select(EligibilityOverride.structure_id, EligibilityOverride.included).where(
            EligibilityOverride.offer_id == offer.id
        )
    ).all()
    return Population(
        frozenset(sector_ids),
        frozenset(category_ids),
        frozenset(s for s, inc in overrides if inc),
        frozenset(s for s, inc in overrides if not inc),
    )


def is_eligible(structure: Structure, offer: Offer) -> bool:
    return population(offer).contains(structure.id, structure.sector_id, structure.category_id, structure.is_open)


def set_override(structure: Structure, offer: Offer, included: bool | None, *, user) -> None:
    """Add (True) or exclude (False) a structure by hand, or go back to the rule (None); commits."""
    if not can_set_status(user, structure):
        raise PermissionError
    row = db.session.scalar(
        select(EligibilityOverride).where(
            EligibilityOverride.structure_id == structure.id, EligibilityOverride.offer_id == offer.id
        )
    )
    before = None if row is None else row.included
    if before == included:
        return
    if included is None:
        db.session.delete(row)
        entity_id = row.id
    else:
        if row is None:
            row = EligibilityOverride(structure_id=structure.id, offer_id=offer.id, included=included)
            db.session.add(row)
        row.included = included
        row.author_id = user.id
        row.updated_at = utcnow()
        db.session.flush()
        entity_id = row.id
    record_change(
        entity_type="eligibility_override",
        entity_id=entity_id,
        action="delete" if included is None else ("create" if before is None else "update"),
        changes={"included": [before, included]},
        event_type="deployment.eligibility_changed",
        payload={
            "offer_id": offer.id,
            "structure_id": structure.id,
            "department": structure.department_code,
            "included": included,
        },
        user_id=user.id,
        parent=("structure", structure.id),
    )
    db.session.commit()


def overrides_of(structure_id: int) -> list[tuple[Offer, bool]]:
    """The offers a structure was added to (True) or excluded from (False) by hand."""
    return [
        (offer, included)
        for offer, included in db.session.execute(
            select(Offer, EligibilityOverride.included)
            .join(EligibilityOverride, EligibilityOverride.offer_id == Offer.id)
            .where(EligibilityOverride.structure_id == structure_id)
            .order_by(Offer.label)
        ).all()
    ]


def save_offer_settings(offer: Offer, values: dict, *, user_id: int | None, origin: str | None = None):
    """Save the eligibility rule, metric or column mapping of an offer; the caller commits."""
    settings = db.session.get(OfferDeploymentSettings, offer.id)
    creating = settings is None
    if creating:
        settings = offer_settings(offer)
        db.session.add(settings)
    before = {key: getattr(settings, key) for key in values}
    for key, value in values.items():
        setattr(settings, key, value)
    changed = {key: [before[key], value] for key, value in values.items() if before[key] != value}
    if not changed and not creating:
        return settings
    settings.updated_at = utcnow()
    db.session.flush()
    record_change(
        entity_type="offer_deployment_settings",
        entity_id=offer.id,
        action="create" if creating else "update",
        changes=changed,
        event_type="deployment.offer_settings_changed",
        payload={"offer_id": offer.id, "changed": sorted(changed)},
        user_id=user_id,
        origin=origin,
    )
    return settings


# --- The structure's page -------------------------------------------------------------------------------


@dataclass
class ServiceRow:
    offer: Offer
    status: str | None
    status_label: str
    status_on: date | None
    source: str | None
    last_month: date | None
    last_value: int | None
    trend: str | None  # "hausse", "baisse", "stable" (last month against the one before), None without two
    unit: str

    @property
    def last_month_label(self) -> str:
        return month_label(self.last_month) if self.last_month else "—"


def month_label(month: date) -> str:
    """ "nov. 2026"."""
    return f"{MONTHS_SHORT[month.month - 1]} {month.year}"


def structure_services(structure: Structure) -> list[ServiceRow]:
    """A row per offer the structure has a status or usage for, featured services first."""
    labels = status_labels()
    deployments = {
        d.offer_id: d
        for d in db.session.scalars(select(StructureDeployment).where(StructureDeployment.structure_id == structure.id))
    }
    usage: dict[int, list[tuple[date, int]]] = {}
    for offer_id, month, value in db.session.execute(
        select(UsageFigure.offer_id, UsageFigure.month, UsageFigure.value)
        .where(UsageFigure.structure_id == structure.id)
        .order_by(UsageFigure.offer_id, UsageFigure.month.desc())
    ):
        usage.setdefault(offer_id, []).append((month, value))
    offer_ids = set(deployments) | set(usage)
    if not offer_ids:
        return []
    offers = db.session.scalars(select(Offer).where(Offer.id.in_(offer_ids))).all()
    units = dict(
        db.session.execute(
            select(OfferDeploymentSettings.offer_id, OfferDeploymentSettings.metric_unit).where(
                OfferDeploymentSettings.offer_id.in_(offer_ids)
            )
        ).all()
    )
    rows = []
    for offer in offers:
        deployment = deployments.get(offer.id)
        figures = usage.get(offer.id, [])
        trend = None
        if len(figures) >= 2:
            last, previous = figures[0][1], figures[1][1]
            trend = "hausse" if last > previous else "baisse" if last < previous else "stable"
        rows.append(
            ServiceRow(
                offer=offer,
                status=deployment.status if deployment else None,
                status_label=labels.get(deployment.status, DEFAULT_LABELS.get(deployment.status, ""))
                if deployment
                else "Non renseigné",
                status_on=deployment.status_on if deployment else None,
                source=source_label(deployment.source) if deployment else None,
                last_month=figures[0][0] if figures else None,
                last_value=figures[0][1] if figures else None,
                trend=trend,
                unit=units.get(offer.id, "utilisateurs"),
            )
        )
    featured = {code: i for i, code in enumerate(FEATURED_OFFERS)}
    rows.sort(key=lambda r: (featured.get(r.offer.code, len(featured)), r.offer.label))
    return rows


def active_offers() -> list[Offer]:
    return list(db.session.scalars(select(Offer).where(Offer.active.is_(True)).order_by(Offer.label)))


def offer_by_code(code: str) -> Offer | None:
    return db.session.scalar(select(Offer).where(func.upper(Offer.code) == (code or "").strip().upper()))
