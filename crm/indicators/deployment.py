"""The services view: per offer, the deployment rate and the active usage rate of each department.

* Deployment rate = eligible open structures at or beyond "déployé" / eligible open structures, read from the
  read model's cells (``ind_deployment_cells``, kept by the outbox consumer).
* Active usage rate = eligible open structures with usage above zero in the period / eligible open structures.
  The period is three months ending with the month asked, by default the offer's latest month with figures;
  the numerator is read from the read model's cells too (``ind_usage_cells``, one per offer, department and
  month ending a period), so the page costs a few index lookups at any scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from crm.deployment.models import UsageFigure
from crm.deployment.services import FEATURED_OFFERS, month_label
from crm.indicators.readmodel.deployment import DeploymentCell
from crm.indicators.readmodel.usage import PERIOD_MONTHS, active_counts, add_months
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.referential.models import Department, Offer
from crm.referential.services import region_department_codes

__all__ = [
    "PERIOD_MONTHS",
    "OfferFigures",
    "Row",
    "add_months",
    "offer_figures",
    "offers_figures",
    "offers_followed",
    "parse_month",
]


@dataclass
class Row:
    code: str
    label: str
    eligible: int
    deployed: int
    active: int

    @property
    def deployment_rate(self) -> float | None:
        return self.deployed / self.eligible if self.eligible else None

    @property
    def active_rate(self) -> float | None:
        return self.active / self.eligible if self.eligible else None

    def as_dict(self) -> dict:
        return {
            "department": self.code,
            "label": self.label,
            "eligible": self.eligible,
            "deployed": self.deployed,
            "deployment_rate": None if self.deployment_rate is None else round(self.deployment_rate, 4),
            "active": self.active,
            "active_rate": None if self.active_rate is None else round(self.active_rate, 4),
        }


@dataclass
class OfferFigures:
    offer: Offer
    start: date | None
    end: date | None
    rows: list[Row]
    total: Row

    @property
    def period_label(self) -> str:
        if self.start is None:
            return "aucun chiffre d'usage"
        return f"{month_label(self.start)} – {month_label(self.end)}"


def parse_month(raw: str | None) -> date | None:
    try:
        year, month = (raw or "").split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        return None


def offers_followed() -> list[Offer]:
    """The active offers, the featured services first."""
    offers = list(db.session.scalars(select(Offer).where(Offer.active.is_(True))))
    rank = {code: i for i, code in enumerate(FEATURED_OFFERS)}
    return sorted(offers, key=lambda o: (rank.get(o.code, len(rank)), o.label))


def latest_months(offer_ids: list[int]) -> dict[int, date | None]:
    """Each offer's latest month with figures: one statement, an index lookup per offer."""
    if not offer_ids:
        return {}
    latest = (
        select(func.max(UsageFigure.month)).where(UsageFigure.offer_id == Offer.id).correlate(Offer).scalar_subquery()
    )
    return dict(db.session.execute(select(Offer.id, latest).where(Offer.id.in_(offer_ids))).all())


def offer_figures(offer: Offer, end: date | None = None, departments: list[str] | None = None) -> OfferFigures:
    return offers_figures([offer], end, departments)[0]


def offers_figures(
    offers: list[Offer], end: date | None = None, departments: list[str] | None = None
) -> list[OfferFigures]:
    """The figures of several offers, in a fixed number of statements (the API asks for every offer at once)."""
    departments = departments or region_department_codes()
    names = dict(db.session.execute(select(Department.code, Department.name)).all())
    ids = [offer.id for offer in offers]
    cells: dict[tuple[int, str], DeploymentCell] = {
        (c.offer_id, c.department_code): c
        for c in db.session.scalars(
            select(DeploymentCell).where(
                DeploymentCell.offer_id.in_(ids), DeploymentCell.department_code.in_(departments)
            )
        )
    }
    this_month = date(local_today().year, local_today().month, 1)
    latest = {} if end else latest_months(ids)
    ends = {offer.id: end or latest.get(offer.id) or this_month for offer in offers}
    active = active_counts(ends, departments)
    out = []
    for offer in offers:
        offer_end = ends[offer.id]
        rows = [
            Row(
                code,
                f"{code} – {names.get(code, code)}",
                cells[(offer.id, code)].eligible if (offer.id, code) in cells else 0,
                cells[(offer.id, code)].deployed if (offer.id, code) in cells else 0,
                active.get((offer.id, code), 0),
            )
            for code in departments
        ]
        total = Row(
            "",
            "Ensemble",
            sum(r.eligible for r in rows),
            sum(r.deployed for r in rows),
            sum(r.active for r in rows),
        )
        out.append(OfferFigures(offer, add_months(offer_end, -(PERIOD_MONTHS - 1)), offer_end, rows, total))
    return out
