"""The three CPOM indicators, read from the pre-aggregated cells (never from the activities).

What each counts, and which rows a scope selects, is defined in :mod:`crm.indicators.definitions` (the code's
form of docs/indicators.md, served at /indicateurs/definitions); this module reads it from the cells:

* participation: ``ind_participation_cells`` (or ``ind_participation_days`` for a free range) /
  ``ind_structure_facts``;
* transformation rate: ``ind_opportunity_cells`` (the cohort reading);
* engagement: ``ind_engagements`` (``ind_project_facts`` for an animator) / ``ind_structure_facts``.

Each returns :class:`Figure` rows with numerator and denominator; the rate is None (no data) when the
denominator is 0. ``group_by`` splits the rows by one dimension.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from flask import g, has_app_context
from sqlalchemy import case, distinct, func, select

from crm.accounts.models import User
from crm.indicators import definitions as defs
from crm.indicators.definitions import (  # noqa: F401 (ES_ESMS, participation_where: still read from here)
    ES_ESMS,
    LABELS,
    TRANSFORMATION_DENOMINATOR,
    TRANSFORMATION_NUMERATOR,
    Scope,
    open_during,
    participation_where,
    population_where,
    rate,
    scope_programme,
    target_sectors,
)
from crm.indicators.periods import Period, month, month_label, quarter, year
from crm.indicators.readmodel import models as m
from crm.platform.extensions import db
from crm.referential.models import Department, Offer, Programme, Sector

ENGAGEMENT_GROUPS = ("programme", "department", "sector")
PARTICIPATION_GROUPS = ("department", "programme", "animator", "sector", "month")
TRANSFORMATION_GROUPS = ("department", "programme", "offer", "animator", "sector", "month")
TOTAL = ("total",)


@dataclass(frozen=True)
class Figure:
    key: tuple
    label: str
    numerator: int
    denominator: int

    @property
    def rate(self) -> float | None:
        return rate(self.numerator, self.denominator)

    def as_dict(self) -> dict:
        return {
            "key": list(self.key),
            "label": self.label,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "rate": self.rate,
        }


def month_of(column):
    """'YYYY-MM' of a date column, on PostgreSQL and SQLite alike."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM")
    return func.strftime("%Y-%m", column)


class Labels:
    """Display names of the keys, fetched once per request (shared through ``flask.g``)."""

    def __init__(self):
        self._cache: dict[str, dict] = g.setdefault("indicator_labels", {}) if has_app_context() else {}

    def _load(self, kind: str) -> dict:
        if kind not in self._cache:
            if kind == "department":
                rows = db.session.execute(select(Department.code, Department.name))
            elif kind == "programme":
                rows = db.session.execute(select(Programme.id, Programme.label))
            elif kind == "offer":
                rows = db.session.execute(select(Offer.id, Offer.label))
            elif kind == "sector":
                rows = db.session.execute(select(Sector.code, Sector.label))
            elif kind == "animator":
                rows = ((u.id, u.display_name) for u in db.session.scalars(select(User)))
            else:
                rows = ()
            self._cache[kind] = {row[0]: row[1] for row in rows}
        return self._cache[kind]

    def of(self, kind: str, value) -> str:
        if kind == "total":
            return "Ensemble"
        if kind == "month":
            year, month = str(value).split("-")
            return month_label(date(int(year), int(month), 1))
        if value in (0, "", None):
            return {
                "programme": "Sans programme",
                "animator": "Sans animateur",
                "sector": "Secteur non renseigné",
                "offer": "Sans offre",
                "department": "Sans département",
            }.get(kind, "—")
        return self._load(kind).get(value, str(value))


def _sorted(rows: list[Figure], group_by: str | None) -> list[Figure]:
    if group_by in ("month", "department"):
        return sorted(rows, key=lambda f: f.key)
    return sorted(rows, key=lambda f: f.label)


# --- transformation rate -----------------------------------------------------------------------------


def transformation_rate(scope: Scope, group_by: str | None = None) -> list[Figure]:
    c = m.OpportunityCell.__table__
    column = {
        "department": c.c.department_code,
        "programme": c.c.programme_id,
        "offer": c.c.offer_id,
        "animator": c.c.owner_id,
        "sector": c.c.sector,
        "month": month_of(c.c.identified_on),
    }.get(group_by)
    where = defs.opportunity_cohort_where(scope, c)
    keys = [column] if column is not None else []
    rows = db.session.execute(
        select(
            *keys,
            func.coalesce(func.sum(c.c[TRANSFORMATION_NUMERATOR]), 0),
            func.coalesce(func.sum(c.c[TRANSFORMATION_DENOMINATOR]), 0),
        )
        .where(*where)
        .group_by(*keys)
    ).all()
    labels = Labels()
    kind = group_by or "total"
    figures = [
        Figure(
            (row[0],) if column is not None else TOTAL,
            labels.of(kind, row[0] if column is not None else None),
            int(row[-2]),
            int(row[-1]),
        )
        for row in rows
    ]
    if column is None and not figures:
        figures = [Figure(TOTAL, "Ensemble", 0, 0)]
    return _sorted(figures, group_by)


# --- participation in information activities ---------------------------------------------------------


def _structure_totals(departments, sectors, by: str | None, start: date, end: date) -> dict:
    """Structures of the departments and sectors open at some time between ``start`` and ``end``."""
    sf = m.StructureFact.__table__
    column = {"department": sf.c.department_code, "sector": sf.c.sector}.get(by)
    keys = [column] if column is not None else []
    rows = db.session.execute(
        select(*keys, func.count()).where(*population_where(sf, departments, sectors, start, end)).group_by(*keys)
    ).all()
    if column is None:
        return {None: int(rows[0][-1]) if rows else 0}
    return {row[0]: int(row[1]) for row in rows}


def _structure_totals_per_window(departments, sectors, windows: list[tuple[date, date]]) -> list[int]:
    """``_structure_totals`` of several periods at once (one statement)."""
    if not windows:
        return []
    sf = m.StructureFact.__table__
    row = db.session.execute(
        select(
            *[func.coalesce(func.sum(case((open_during(sf, start, end), 1), else_=0)), 0) for start, end in windows]
        ).where(sf.c.department_code.in_(departments), sf.c.sector.in_(sectors))
    ).one()
    return [int(value) for value in row]


def standard_period(start: date, end: date) -> str | None:
    """ "mois", "trimestre" or "annee" when [start, end] is exactly a calendar one (the participation cells')."""
    if start.day != 1:
        return None
    for kind, period in (("mois", month), ("trimestre", quarter), ("annee", lambda day: year(day.year))):
        if (period(start).start, period(start).end) == (start, end):
            return kind
    return None


def _whole_months(start: date, end: date) -> bool:
    return start.day == 1 and (end + timedelta(days=1)).day == 1


def _participation_from_cells(scope: Scope, group_by: str | None):
    """The participation counts read from ``ind_participation_cells``, or None when the scope needs the days
    (a free range, or a programme and an animator at once)."""
    c = m.ParticipationCell.__table__
    if group_by == "month":
        if not _whole_months(scope.period.start, scope.period.end):
            return None
        kind, period_where = "mois", c.c.period_start.between(scope.period.start, scope.period.end)
    else:
        kind = standard_period(scope.period.start, scope.period.end)
        if kind is None:
            return None
        period_where = c.c.period_start == scope.period.start
    programme_id = scope_programme(scope)
    by_programme, by_animator = programme_id or group_by == "programme", scope.animator_id or group_by == "animator"
    if by_programme and by_animator:
        return None
    where = [
        c.c.period_kind == kind,
        period_where,
        c.c.department_code.in_(scope.departments),
        c.c.sector.in_(scope.participation_sectors),
    ]
    where.append(
        c.c.programme_id == programme_id
        if programme_id
        else c.c.programme_id != m.ANY
        if group_by == "programme"
        else c.c.programme_id == m.ANY
    )
    where.append(
        c.c.animator_id == scope.animator_id
        if scope.animator_id
        else c.c.animator_id != m.ANY
        if group_by == "animator"
        else c.c.animator_id == m.ANY
    )
    column = {
        "department": c.c.department_code,
        "programme": c.c.programme_id,
        "animator": c.c.animator_id,
        "sector": c.c.sector,
        "month": c.c.period_start,
    }.get(group_by)
    keys = [column] if column is not None else []
    rows = db.session.execute(select(*keys, func.sum(c.c.structures)).where(*where).group_by(*keys)).all()
    if group_by == "month":
        return {f"{row[0]:%Y-%m}" if isinstance(row[0], date) else row[0][:7]: int(row[-1]) for row in rows}
    return {(row[0] if column is not None else None): int(row[-1] or 0) for row in rows}


def _participation_from_days(scope: Scope, group_by: str | None) -> dict:
    d = m.ParticipationDay.__table__
    column = {
        "department": d.c.department_code,
        "programme": d.c.programme_id,
        "animator": d.c.animator_id,
        "sector": d.c.sector,
        "month": month_of(d.c.day),
    }.get(group_by)
    keys = [column] if column is not None else []
    rows = db.session.execute(
        select(*keys, func.count(distinct(d.c.structure_id))).where(*participation_where(scope)).group_by(*keys)
    ).all()
    return {(row[0] if column is not None else None): int(row[-1]) for row in rows}


def participation_denominator(scope: Scope) -> int:
    """Structures of the sectors the participation counts, in the scope's departments, open at some time in
    the period."""
    return _structure_totals(
        scope.departments, scope.participation_sectors, None, scope.period.start, scope.period.end
    )[None]


def month_windows(period: Period) -> dict[str, tuple[date, date]]:
    """'YYYY-MM' -> the part of that month within the period, for every month the period touches."""
    return {
        f"{first:%Y-%m}": (max(first, period.start), min(month(first).end, period.end)) for first in period.months()
    }


def participation_denominators_by_month(scope: Scope) -> dict[str, int]:
    """The participation denominator of each month of the period (its part within the period)."""
    windows = month_windows(scope.period)
    totals = _structure_totals_per_window(scope.departments, scope.participation_sectors, list(windows.values()))
    return dict(zip(windows, totals))


def _participation_by_month(scope: Scope) -> list[Figure]:
    """One row per month counted, each a share of that month's population (a structure closed in February
    is in the year's population, not in March's)."""
    counted = _participation_from_cells(scope, "month")
    if counted is None:  # a free range: each month's part counted within its own population
        counted = {
            key: _participation_from_days(scope.with_period(Period("personnalise", *window)), None)[None]
            for key, window in month_windows(scope.period).items()
        }
    totals = participation_denominators_by_month(scope)
    labels = Labels()
    return _sorted([Figure((k,), labels.of("month", k), n, totals.get(k, 0)) for k, n in counted.items() if n], "month")


def information_participation(scope: Scope, group_by: str | None = None) -> list[Figure]:
    if group_by == "month":
        return _participation_by_month(scope)
    counted = _participation_from_cells(scope, group_by)
    if counted is None:
        counted = _participation_from_days(scope, group_by)
    column = group_by if group_by in PARTICIPATION_GROUPS else None
    split = group_by if group_by in ("department", "sector") else None
    totals = _structure_totals(
        scope.departments, scope.participation_sectors, split, scope.period.start, scope.period.end
    )
    labels = Labels()
    kind = group_by or "total"
    if split:  # every department (or sector) in scope gets a row, reached or not
        keys_seen = set(totals) | set(counted)
        return _sorted(
            [Figure((k,), labels.of(kind, k), counted.get(k, 0), totals.get(k, 0)) for k in keys_seen], group_by
        )
    total = totals[None]
    if column is None:
        return [Figure(TOTAL, "Ensemble", counted.get(None, 0), total)]
    return _sorted([Figure((k,), labels.of(kind, k), n, total) for k, n in counted.items()], group_by)


# --- engagement ----------------------------------------------------------------------------------------


def engagement_programmes(scope: Scope) -> list[Programme]:
    programme_id = scope_programme(scope)
    query = select(Programme).order_by(Programme.number)
    if programme_id:
        query = query.where(Programme.id == programme_id)
    else:
        query = query.where(Programme.active.is_(True))
    return [p for p in db.session.scalars(query) if target_sectors(p)]


def _engaged_counts(scope: Scope, programme_ids: list[int]):
    """(programme_id, department, sector) -> structures engaged by the end of the period."""
    f, where = defs.engaged_where(scope, m.Engagement.__table__, m.ProjectFact.__table__)
    # With an animator, one row per project: the structures this animator's projects engaged.
    counted = func.count(distinct(f.c.structure_id)) if scope.animator_id else func.count()
    query = (
        select(f.c.programme_id, f.c.department_code, f.c.sector, counted)
        .where(*where, f.c.programme_id.in_(programme_ids))
        .group_by(f.c.programme_id, f.c.department_code, f.c.sector)
    )
    return {(row[0], row[1], row[2]): int(row[3]) for row in db.session.execute(query)}


def engagement(scope: Scope, group_by: str | None = None) -> list[Figure]:
    """One row per programme (split by department or sector with ``group_by``)."""
    programmes = engagement_programmes(scope)
    if not programmes:
        return []
    engaged = _engaged_counts(scope, [p.id for p in programmes])
    sf = m.StructureFact.__table__
    structures = {
        (row[0], row[1]): int(row[2])
        for row in db.session.execute(
            select(sf.c.department_code, sf.c.sector, func.count())
            .where(sf.c.department_code.in_(scope.departments), open_during(sf, scope.period.end, scope.period.end))
            .group_by(sf.c.department_code, sf.c.sector)
        )
    }
    labels = Labels()
    split = group_by if group_by in ("department", "sector") else None
    numerators: dict[tuple, int] = defaultdict(int)
    denominators: dict[tuple, int] = defaultdict(int)
    for programme in programmes:
        targets = target_sectors(programme, scope.sector)
        for department in scope.departments:
            for sector in targets:
                key = (programme.id,) + (
                    () if split is None else ((department,) if split == "department" else (sector,))
                )
                numerators[key] += engaged.get((programme.id, department, sector), 0)
                denominators[key] += structures.get((department, sector), 0)
        if split is None:
            numerators.setdefault((programme.id,), 0)
            denominators.setdefault((programme.id,), 0)
    figures = []
    for key, denominator in denominators.items():
        label = labels.of("programme", key[0])
        if split:
            label += " – " + labels.of(split, key[1])
        figures.append(Figure(key, label, numerators[key], denominator))
    order = {p.id: i for i, p in enumerate(programmes)}
    return sorted(figures, key=lambda f: (order[f.key[0]], f.key[1:]))


INDICATORS = {
    "transformation": (LABELS["transformation"], transformation_rate, TRANSFORMATION_GROUPS),
    "participation": (LABELS["participation"], information_participation, PARTICIPATION_GROUPS),
    "engagement": (LABELS["engagement"], engagement, ENGAGEMENT_GROUPS),
}
