"""The activity report's figures, the opportunity funnel and the monthly trends, from the cells."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, case, distinct, func, or_, select

from crm.indicators.definitions import open_during, opportunity_cohort_where
from crm.indicators.event_report import event_totals
from crm.indicators.periods import Period, month_label
from crm.indicators.queries import (
    Figure,
    Scope,
    information_participation,
    participation_denominators_by_month,
    transformation_rate,
)
from crm.indicators.readmodel import models as m
from crm.platform.extensions import db
from crm.referential.models import Programme

COORDINATION = "COORDINATION"


@dataclass(frozen=True)
class ReportFigures:
    accompanied: Figure  # structures accompanied (numerator), of which medico-social: see medico_social
    medico_social: Figure  # medico-social structures among those accompanied
    other_offers: Figure  # offers presented other than coordination / offers presented
    territorial_events: int
    webinars: int
    webinar_participants: int
    useful: Figure  # answers "useful" / answers, for webinars


def _project_where(scope: Scope, f) -> list:
    where = [
        f.c.started_on <= scope.period.end,
        or_(f.c.ended_on.is_(None), f.c.ended_on >= scope.period.start),
        f.c.department_code.in_(scope.departments),
    ]
    if scope.programme_id:
        where.append(f.c.programme_id == scope.programme_id)
    if scope.offer_id:
        where.append(f.c.offer_id == scope.offer_id)
    if scope.animator_id:
        where.append(f.c.owner_id == scope.animator_id)
    if scope.sector:
        where.append(f.c.sector == scope.sector)
    return where


def report_figures(scope: Scope, event_type: str | None = None) -> ReportFigures:
    """The activity report's figures; the event figures count the events that took place (see ``event_report``),
    of ``event_type`` only when given."""
    f = m.ProjectFact.__table__
    accompanied, medico_social = db.session.execute(
        select(
            func.count(distinct(f.c.structure_id)),
            func.count(distinct(case((f.c.sector == "medico_social", f.c.structure_id)))),
        ).where(*_project_where(scope, f))
    ).one()
    c = m.OfferPresentationCell.__table__
    coordination = select(Programme.id).where(Programme.code == COORDINATION).scalar_subquery()
    where = [c.c.day.between(scope.period.start, scope.period.end), c.c.department_code.in_(scope.departments)]
    if scope.animator_id:
        where.append(c.c.animator_id == scope.animator_id)
    presented, other = db.session.execute(
        select(
            func.coalesce(func.sum(c.c.presentations), 0),
            func.coalesce(func.sum(case((c.c.programme_id != coordination, c.c.presentations), else_=0)), 0),
        ).where(*where)
    ).one()
    events = event_totals(scope, event_type)
    return ReportFigures(
        accompanied=Figure(("accompanied",), "Structures accompagnées", int(accompanied), int(accompanied)),
        medico_social=Figure(("medico_social",), "dont médico-sociales", int(medico_social), int(accompanied)),
        other_offers=Figure(("other_offers",), "Offres présentées hors coordination", int(other), int(presented)),
        territorial_events=events.territorial,
        webinars=events.webinars,
        webinar_participants=events.webinar_participants,
        useful=events.webinar_useful,
    )


def accompanied_by_sector(scope: Scope) -> dict[str, int]:
    """The report's "structures accompanied" split by the structures' sector (same rows as ``report_figures``)."""
    f = m.ProjectFact.__table__
    rows = db.session.execute(
        select(f.c.sector, func.count(distinct(f.c.structure_id))).where(*_project_where(scope, f)).group_by(f.c.sector)
    )
    return {sector or "": int(count) for sector, count in rows}


@dataclass(frozen=True)
class FunnelStage:
    key: str
    label: str
    count: int
    average_days: float | None  # time spent in this stage by those who left it


def funnel(scope: Scope) -> tuple[list[FunnelStage], dict[str, int]]:
    """The cohort of the period through the stages, and how many were lost, abandoned, transformed."""
    c = m.OpportunityCell.__table__
    where = opportunity_cohort_where(scope, c)
    names = (
        "opportunities",
        "reached_qualifiee",
        "reached_proposee",
        "won",
        "lost",
        "abandoned",
        "transformed",
        "identifiee_seconds",
        "identifiee_left",
        "qualifiee_seconds",
        "qualifiee_left",
        "proposee_seconds",
        "proposee_left",
    )
    row = db.session.execute(select(*[func.coalesce(func.sum(c.c[n]), 0) for n in names]).where(*where)).one()
    v = dict(zip(names, (int(x) for x in row)))

    def average(stage):
        left = v[f"{stage}_left"]
        return v[f"{stage}_seconds"] / left / 86400 if left else None

    stages = [
        FunnelStage("identifiee", "Identifiées", v["opportunities"], average("identifiee")),
        FunnelStage("qualifiee", "Qualifiées", v["reached_qualifiee"], average("qualifiee")),
        FunnelStage("proposee", "Proposées", v["reached_proposee"], average("proposee")),
        FunnelStage("gagnee", "Gagnées", v["won"], None),
    ]
    return stages, {"perdue": v["lost"], "abandonnee": v["abandoned"], "transformed": v["transformed"]}


def trend_months(period: Period) -> list[date]:
    """The months of the period, or the twelve months up to its end when it is shorter than three."""
    months = period.months()
    if len(months) >= 3:
        return months[-24:]
    return [_shift(months[-1], -i) for i in range(11, -1, -1)]


def _shift(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Trend:
    months: list[str]  # labels
    keys: list[str]  # 'YYYY-MM'
    participation: list[Figure | None]
    transformation: list[Figure | None]
    engaged: list[int]  # structures engaged (all programmes) by the end of each month


def trends(scope: Scope) -> Trend:
    firsts = trend_months(scope.period)
    span = Period("personnalise", firsts[0], _shift(firsts[-1], 1) - timedelta(days=1))
    wide = scope.with_period(span)
    keys = [f"{d.year:04d}-{d.month:02d}" for d in firsts]
    participation = {f.key[0]: f for f in information_participation(wide, "month")}
    totals = participation_denominators_by_month(wide)
    transformation = {f.key[0]: f for f in transformation_rate(wide, "month")}
    engaged_by_month = _engaged_by_month(scope, firsts)
    return Trend(
        months=[month_label(d) for d in firsts],
        keys=keys,
        participation=[participation.get(k) or Figure((k,), "", 0, totals.get(k, 0)) for k in keys],
        transformation=[transformation.get(k) for k in keys],
        engaged=engaged_by_month,
    )


def _engaged_by_month(scope: Scope, firsts: list[date]) -> list[int]:
    """Distinct structures engaged in at least one programme, as of the end of each month (and open then)."""
    g = m.Engagement.__table__
    ends = [_shift(first, 1) - timedelta(days=1) for first in firsts]
    counts = db.session.execute(
        select(
            *[
                func.count(distinct(case((and_(g.c.since <= end, open_during(g, end, end)), g.c.structure_id))))
                for end in ends
            ]
        ).where(
            g.c.department_code.in_(scope.departments),
            *([g.c.programme_id == scope.programme_id] if scope.programme_id else []),
        )
    ).one()
    return [int(x) for x in counts]


__all__ = ["FunnelStage", "ReportFigures", "Trend", "accompanied_by_sector", "funnel", "report_figures", "trends"]
