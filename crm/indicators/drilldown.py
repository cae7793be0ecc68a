"""The records behind a figure: click 37 % and see the structures counted and those not reached yet.

The lists use the same read model and filters as the figure, so that their counts are the figure's
numerator and the rest of its denominator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import distinct, func, select

from crm.indicators.definitions import (
    Scope,
    engaged_where,
    opportunity_cohort_where,
    participation_where,
    population_where,
    target_sectors,
)
from crm.indicators.readmodel import models as m
from crm.pipeline.models import Opportunity
from crm.platform.extensions import db
from crm.referential.models import Programme, Sector
from crm.structures.models import Structure

LIMIT = 500


@dataclass
class StructureLine:
    id: int
    name: str
    commune: str | None
    department_code: str
    sector: str
    last_on: date | None = None
    times: int = 0


@dataclass
class Detail:
    counted: list = field(default_factory=list)
    counted_total: int = 0
    others: list = field(default_factory=list)  # not reached / not engaged / not transformed
    others_total: int = 0

    @property
    def truncated(self) -> bool:
        return self.counted_total > len(self.counted) or self.others_total > len(self.others)


def _sector_labels() -> dict[str, str]:
    return {code: label for code, label in db.session.execute(select(Sector.code, Sector.label))}


def _population_others(departments, sectors, start: date, end: date, excluded):
    """The structures of the figure's population (open at some time between ``start`` and ``end``) not counted."""
    sf = m.StructureFact.__table__
    population = select(sf.c.structure_id).where(*population_where(sf, departments, sectors, start, end))
    base = select(Structure).where(Structure.id.in_(population), Structure.id.not_in(excluded))
    total = db.session.scalar(select(func.count()).select_from(base.subquery()))
    rows = db.session.scalars(base.order_by(Structure.department_code, Structure.name).limit(LIMIT)).all()
    labels = _sector_labels()
    return [
        StructureLine(s.id, s.name, s.commune, s.department_code, labels.get(s.sector.code if s.sector else "", ""))
        for s in rows
    ], total


def participation_detail(scope: Scope) -> Detail:
    d = m.ParticipationDay.__table__
    where = participation_where(scope)
    counted_ids = select(d.c.structure_id).where(*where).distinct()
    grouped = (
        select(d.c.structure_id, func.max(d.c.day).label("last_on"), func.count(distinct(d.c.day)).label("times"))
        .where(*where)
        .group_by(d.c.structure_id)
        .subquery()
    )
    total = db.session.scalar(select(func.count()).select_from(grouped))
    labels = _sector_labels()
    rows = db.session.execute(
        select(Structure, grouped.c.last_on, grouped.c.times)
        .join(grouped, grouped.c.structure_id == Structure.id)
        .order_by(grouped.c.last_on.desc(), Structure.name)
        .limit(LIMIT)
    ).all()
    counted = [
        StructureLine(
            s.id,
            s.name,
            s.commune,
            s.department_code,
            labels.get(s.sector.code if s.sector else "", ""),
            last_on,
            times,
        )
        for s, last_on, times in rows
    ]
    others, others_total = _population_others(
        scope.departments, scope.participation_sectors, scope.period.start, scope.period.end, counted_ids
    )
    return Detail(counted, total, others, others_total)


@dataclass
class OpportunityLine:
    id: int
    title: str
    structure_id: int
    structure_name: str
    department_code: str
    identified_on: date
    stage: str
    stage_label: str
    transformed: bool


def transformation_detail(scope: Scope) -> Detail:
    f = m.OpportunityFact.__table__
    where = opportunity_cohort_where(scope, f)
    lines: dict[bool, list] = {True: [], False: []}
    totals = {}
    for transformed in (True, False):
        query = (
            select(Opportunity, f.c.transformed)
            .join(f, f.c.opportunity_id == Opportunity.id)
            .where(*where, f.c.transformed.is_(transformed))
        )
        totals[transformed] = db.session.scalar(
            select(func.count()).select_from(f).where(*where, f.c.transformed.is_(transformed))
        )
        for opportunity, flag in db.session.execute(
            query.order_by(f.c.identified_on.desc(), Opportunity.id.desc()).limit(LIMIT)
        ).all():
            lines[transformed].append(
                OpportunityLine(
                    opportunity.id,
                    opportunity.title,
                    opportunity.structure_id,
                    opportunity.structure.name,
                    opportunity.department_code,
                    opportunity.identified_on,
                    opportunity.stage,
                    opportunity.stage_label,
                    bool(flag),
                )
            )
    return Detail(lines[True], totals[True], lines[False], totals[False])


def engagement_detail(scope: Scope, programme: Programme) -> Detail:
    targets = target_sectors(programme, scope.sector)
    f, where = engaged_where(scope, m.Engagement.__table__, m.ProjectFact.__table__)
    where += [f.c.programme_id == programme.id, f.c.sector.in_(targets)]
    if scope.animator_id:  # one row per project of the animator's
        engaged = (
            select(f.c.structure_id, func.min(f.c.started_on).label("since"), func.count().label("projects"))
            .where(*where)
            .group_by(f.c.structure_id)
            .subquery()
        )
    else:
        engaged = select(f.c.structure_id, f.c.since, f.c.projects).where(*where).subquery()
    total = db.session.scalar(select(func.count()).select_from(engaged))
    labels = _sector_labels()
    rows = db.session.execute(
        select(Structure, engaged.c.since, engaged.c.projects)
        .join(engaged, engaged.c.structure_id == Structure.id)
        .order_by(Structure.department_code, Structure.name)
        .limit(LIMIT)
    ).all()
    counted = [
        StructureLine(
            s.id,
            s.name,
            s.commune,
            s.department_code,
            labels.get(s.sector.code if s.sector else "", ""),
            since,
            projects,
        )
        for s, since, projects in rows
    ]
    others, others_total = _population_others(
        scope.departments, targets, scope.period.end, scope.period.end, select(engaged.c.structure_id)
    )
    return Detail(counted, total, others, others_total)
