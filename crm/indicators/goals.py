"""The figures against their targets (crm/targets): the tiles, the report's figures, the API rows, the exports.

A figure has a target when its period lies in one year and no filter other than the department and the
programme narrows it (an animator's, an offer's or a sector's figures have no target of their own). The reading
(prorating, gap, projection) is :func:`crm.targets.services.progress`; docs/indicators.md defines it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from crm.indicators.periods import Period
from crm.indicators.queries import TOTAL, Figure, Scope
from crm.platform.dates import local_today
from crm.referential.services import region_department_codes
from crm.targets.models import INDICATORS, PROGRAMME_INDICATORS
from crm.targets.services import (
    Progress,
    progress,
    same_period_last_year,
    scope_target,
    target_values,
    year_before,
)

# The API's indicator names (crm/api/indicators.py) and the dashboard's, to the targets' codes.
API_NAMES = {
    "transformation-rate": "transformation",
    "information-participation": "participation",
    "engagement": "engagement",
}
REPORT_CODES = (
    "structures_accompanied",
    "medico_social",
    "other_offers",
    "territorial_events",
    "webinars",
    "webinar_participants",
    "webinar_useful",
)
EVENT_CODES = ("territorial_events", "webinars", "webinar_participants", "webinar_useful")


def scope_year(scope: Scope) -> int | None:
    """The year whose targets apply to the scope: its period's, when it lies in one year."""
    start, end = scope.period.start, scope.period.end
    return start.year if start.year == end.year else None


def has_targets(scope: Scope) -> bool:
    return scope_year(scope) is not None and not (scope.offer_id or scope.animator_id or scope.sector)


def value_of(indicator: str, figure: Figure | int | None) -> float | None:
    """The figure in the target's unit: a rate in % (rounded to 0.01 pt), a count in units."""
    if figure is None:
        return None
    if isinstance(figure, int):
        return float(figure)
    if INDICATORS[indicator].is_rate:
        return None if figure.rate is None else round(figure.rate * 100, 2)
    return float(figure.numerator)


def last_year_periods(scope: Scope, today: date) -> tuple[Period, Period] | None:
    """The period a year earlier, whole and up to the same day, while ``scope.period`` is running."""
    start, end = scope.period.start, scope.period.end
    if not start <= today <= end:
        return None
    same_start, same_end = same_period_last_year(start, end, today)
    return Period("personnalise", same_start, year_before(end)), Period("personnalise", same_start, same_end)


@dataclass
class Goals:
    """What a page needs to show its figures against their targets."""

    year: int | None
    targets: dict
    region: list[str]
    today: date

    def target(self, scope: Scope, indicator: str, departments=None, programme_id=None) -> Decimal | None:
        if self.year is None:
            return None
        programme_id = programme_id if programme_id is not None else scope.programme_id
        if programme_id and indicator not in PROGRAMME_INDICATORS:
            return None
        return scope_target(
            self.targets,
            indicator,
            departments if departments is not None else scope.departments,
            programme_id,
            self.region,
        )

    def read(self, scope: Scope, indicator: str, value, target, *, last_full=None, last_same=None) -> Progress:
        """``value`` (a Figure or a count) against ``target`` (None: no target)."""
        return progress(
            value_of(indicator, value),
            target,
            indicator,
            scope.period.start,
            scope.period.end,
            self.today,
            last_year_full=value_of(indicator, last_full),
            last_year_same_period=value_of(indicator, last_same),
        )


def goals_for(scope: Scope, today: date | None = None) -> Goals:
    year = scope_year(scope) if has_targets(scope) else None
    return Goals(
        year=year,
        targets=target_values(year) if year is not None else {},
        region=region_department_codes(),
        today=today or local_today(),
    )


def headline_goals(scope: Scope, current: dict[str, Figure] | None = None, today: date | None = None):
    """The three headline rates against their targets ({key: Progress}), with the projection from last
    year's curve; ``current``: the figures already read."""
    from crm.indicators.dashboard import headline_figures

    goals = goals_for(scope, today)
    if goals.year is None:
        return {}
    current = current if current is not None else headline_figures(scope)
    periods = last_year_periods(scope, goals.today)
    full = same = {}
    if periods is not None:
        full, same = headline_figures(scope.with_period(periods[0])), headline_figures(scope.with_period(periods[1]))
    return {
        key: goals.read(scope, key, figure, goals.target(scope, key), last_full=full.get(key), last_same=same.get(key))
        for key, figure in current.items()
    }


def _report_values(figures) -> dict:
    return {
        "structures_accompanied": figures.accompanied,
        "medico_social": figures.medico_social,
        "other_offers": figures.other_offers,
        "territorial_events": figures.territorial_events,
        "webinars": figures.webinars,
        "webinar_participants": figures.webinar_participants,
        "webinar_useful": figures.useful,
    }


def report_goals(scope: Scope, figures, event_type: str | None = None, today: date | None = None):
    """The report's figures against their targets: {code: Progress} (empty without targets)."""
    from crm.indicators.report import report_figures

    goals = goals_for(scope, today)
    if goals.year is None:
        return {}
    current = _report_values(figures)
    periods = last_year_periods(scope, goals.today)
    full = same = {}
    if periods is not None:
        full = _report_values(report_figures(scope.with_period(periods[0]), event_type))
        same = _report_values(report_figures(scope.with_period(periods[1]), event_type))
    out = {}
    for code in REPORT_CODES:
        target = None if event_type and code in EVENT_CODES else goals.target(scope, code)
        out[code] = goals.read(scope, code, current[code], target, last_full=full.get(code), last_same=same.get(code))
    return out


def row_target(goals: Goals, scope: Scope, indicator: str, names: tuple[str, ...], figure: Figure):
    """The target of one indicator row (split by ``names``): by department and/or programme only."""
    if goals.year is None:
        return None
    if figure.key == TOTAL or not names:
        dims = {}
    else:
        dims = dict(zip(names, figure.key))
    if set(dims) - {"department", "programme"}:
        return None
    departments = (dims["department"],) if dims.get("department") else None
    programme = dims.get("programme") or None
    return goals.target(scope, indicator, departments=departments, programme_id=programme)


def row_goal(goals: Goals, scope: Scope, indicator: str, names: tuple[str, ...], figure: Figure) -> Progress:
    return goals.read(scope, indicator, figure, row_target(goals, scope, indicator, names, figure))


def department_goals(scope: Scope, indicator: str, figures: dict[str, Figure], today: date | None = None):
    """{department code: Progress} of a rate read by department (the map, the animator's departments)."""
    goals = goals_for(scope, today)
    return {
        code: goals.read(scope, indicator, figure, goals.target(scope, indicator, departments=(code,)))
        for code, figure in figures.items()
    }


def heatmap_goals(scope: Scope, heatmap) -> dict[tuple[int, str], Progress]:
    """{(programme id, department code): Progress} of the engagement heatmap's cells that have a target."""
    goals = goals_for(scope)
    if goals.year is None:
        return {}
    out = {}
    for (programme_id, code), figure in heatmap.cells.items():
        target = goals.target(scope, "engagement", departments=(code,), programme_id=programme_id)
        if target is not None:
            out[(programme_id, code)] = goals.read(scope, "engagement", figure, target)
    return out
