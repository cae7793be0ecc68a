"""The demo's targets: the previous and the current year, for the region and each of its departments.

Plausible values, read from the seeded history once the indicators are computed: last year's targets a
little above what last year gave (some reached, some not), this year's 10 % higher. A figure the history
leaves empty gets a default. The webinars' figures are the region's only (a webinar has no department).
Written through the targets' service (audit entries and events); a year that already has targets is left
as it is, so seeding twice changes nothing.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from crm.accounts.models import User
from crm.indicators.dashboard import headline_figures
from crm.indicators.definitions import Scope
from crm.indicators.periods import year as year_period
from crm.indicators.report import report_figures
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.targets import services
from crm.targets.models import INDICATORS, Target

REGION_ONLY = ("webinars", "webinar_participants", "webinar_useful")
DEFAULTS = {
    "participation": 40,
    "transformation": 30,
    "engagement": 20,
    "structures_accompanied": 10,
    "medico_social": 45,
    "other_offers": 55,
    "territorial_events": 4,
    "webinars": 20,
    "webinar_participants": 400,
    "webinar_useful": 80,
}


def _actuals(scope: Scope) -> dict[str, float | None]:
    rates = headline_figures(scope)
    report = report_figures(scope)
    figures = {
        **rates,
        "structures_accompanied": report.accompanied.numerator,
        "medico_social": report.medico_social,
        "other_offers": report.other_offers,
        "territorial_events": report.territorial_events,
        "webinars": report.webinars,
        "webinar_participants": report.webinar_participants,
        "webinar_useful": report.useful,
    }
    out = {}
    for code, figure in figures.items():
        if isinstance(figure, int):
            out[code] = float(figure) or None
        else:
            out[code] = None if not figure.rate else figure.rate * 100
    return out


def _value(code: str, actual: float | None, factor: float) -> Decimal:
    base = actual if actual else DEFAULTS[code]
    if INDICATORS[code].is_rate:
        return Decimal(min(100, max(1, round(base * factor))))
    return Decimal(max(1, round(base * factor)))


def seed_targets(department_codes: list[str]) -> list[str]:
    """Targets of last year and this year (region and ``department_codes``); returns the report lines."""
    this_year = local_today().year
    years = (this_year - 1, this_year)
    done = {y for y in years if db.session.scalar(select(func.count()).select_from(Target).where(Target.year == y))}
    if len(done) == len(years):
        return ["Cibles : déjà présentes, conservées."]
    author = db.session.scalar(select(User).where(User.role == "admin", User.active.is_(True)).order_by(User.id))
    author_id = author.id if author else None
    last_year = year_period(this_year - 1)
    places: list[str | None] = [None, *department_codes]
    written = 0
    for place in places:
        departments = tuple(department_codes) if place is None else (place,)
        actuals = _actuals(Scope(last_year, departments))
        for target_year, factor in zip(years, (1.05, 1.15)):
            if target_year in done:
                continue
            for code in INDICATORS:
                if place is not None and code in REGION_ONLY:
                    continue
                values = {
                    "indicator": code,
                    "year": target_year,
                    "department_code": place,
                    "programme_id": None,
                    "value": _value(code, actuals[code], factor),
                }
                services.upsert(values, user_id=author_id, origin="seed")
                written += 1
    db.session.commit()
    return [f"Cibles {years[0]} et {years[1]} (région et {len(department_codes)} départements) : {written} créées."]
