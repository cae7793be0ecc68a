"""From what a page or an API call asks (period, department, programme, offer, animator, sector) to a
:class:`~crm.indicators.definitions.Scope`, with a French message per refused value."""

from __future__ import annotations

from sqlalchemy import select

from crm.accounts.models import User
from crm.indicators.definitions import Scope
from crm.indicators.periods import Period, PeriodError, parse_period
from crm.indicators.queries import Labels
from crm.platform.extensions import db
from crm.platform.validation import ValidationFailed
from crm.referential.models import Offer, Programme, Sector
from crm.referential.services import known_department, region_department_codes


def _id(value, errors: dict, field: str, message: str) -> int | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        errors[field] = message
        return None
    return int(text)


def build_scope(
    *,
    period: Period | None = None,
    kind: str | None = None,
    start: str | None = None,
    end: str | None = None,
    department: str | None = None,
    programme=None,
    offer=None,
    animator=None,
    sector: str | None = None,
    default_departments: tuple[str, ...] | None = None,
) -> Scope:
    """Validate the filters; raises ValidationFailed with one French message per bad field."""
    errors: dict[str, str] = {}
    if period is None:
        try:
            period = parse_period(kind, start, end)
        except PeriodError as error:
            errors["period"] = str(error)
    department = (department or "").strip().upper() or None
    if department and not known_department(department):
        errors["department"] = "Département inconnu."
    programme_id = _id(programme, errors, "programme", "Programme inconnu.")
    if programme_id and db.session.get(Programme, programme_id) is None:
        errors["programme"] = "Programme inconnu."
    offer_id = _id(offer, errors, "offer", "Offre inconnue.")
    if offer_id and db.session.get(Offer, offer_id) is None:
        errors["offer"] = "Offre inconnue."
    animator_id = _id(animator, errors, "animator", "Animateur inconnu.")
    if animator_id and db.session.get(User, animator_id) is None:
        errors["animator"] = "Animateur inconnu."
    sector = (sector or "").strip() or None
    if sector and db.session.scalar(select(Sector.id).where(Sector.code == sector)) is None:
        errors["sector"] = "Secteur inconnu."
    if errors:
        raise ValidationFailed(errors)
    departments = (department,) if department else (default_departments or tuple(region_department_codes()))
    return Scope(
        period=period,
        departments=departments,
        programme_id=programme_id,
        offer_id=offer_id,
        animator_id=animator_id,
        sector=sector,
    )


def describe(scope: Scope) -> list[tuple[str, str]]:
    """The scope in words, for exports and page headers: [("Période", "2026"), ("Département", ...)...]."""
    labels = Labels()
    lines = [("Période", f"{scope.period.label} (du {scope.period.start:%d/%m/%Y} au {scope.period.end:%d/%m/%Y})")]
    if len(scope.departments) == 1:
        lines.append(("Département", f"{scope.departments[0]} – {labels.of('department', scope.departments[0])}"))
    else:
        lines.append(("Départements", ", ".join(scope.departments)))
    if scope.programme_id:
        lines.append(("Programme", labels.of("programme", scope.programme_id)))
    if scope.offer_id:
        lines.append(("Offre", labels.of("offer", scope.offer_id)))
    if scope.animator_id:
        lines.append(("Animateur", labels.of("animator", scope.animator_id)))
    if scope.sector:
        lines.append(("Secteur", labels.of("sector", scope.sector)))
    return lines
