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
from crm.pipeline.models import STAGES, Opportunity
from crm.platform.extensions import db
from crm.referential.models import Programme, Sector
from crm.structures.models import Structure

LIMIT = 100  # rows per list on the page; the export gives every line (and the counts are always exact)

# A line's columns, read as columns: loading Structure entities brought their eager joins (sector,
# category, department and region) for every line.
LINE_COLUMNS = (
    Structure.id,
    Structure.name,
    Structure.commune,
    Structure.department_code,
    func.coalesce(Sector.label, ""),
)


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


def _lines(statement) -> list[StructureLine]:
    """StructureLines of a select of LINE_COLUMNS (and the two figures after them), sector joined."""
    statement = statement.outerjoin(Sector, Sector.id == Structure.sector_id)
    return [StructureLine(*row) for row in db.session.execute(statement)]


def _population_others(departments, sectors, start: date, end: date, excluded):
    """The structures of the figure's population (open at some time between ``start`` and ``end``) not counted."""
    sf = m.StructureFact.__table__
    where = (*population_where(sf, departments, sectors, start, end), sf.c.structure_id.not_in(excluded))
    total = db.session.scalar(select(func.count()).select_from(sf).where(*where))  # the facts alone
    rows = _lines(
        select(*LINE_COLUMNS)
        .where(Structure.id.in_(select(sf.c.structure_id).where(*where)))
        .order_by(Structure.department_code, Structure.name)
        .limit(LIMIT)
    )
    return rows, total


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
    # The 100 lines from the read model first, then their structures: joining every structure of the
    # region to sort them read the whole structures table.
    top = (
        select(grouped.c.structure_id, grouped.c.last_on, grouped.c.times)
        .order_by(grouped.c.last_on.desc(), grouped.c.structure_id)
        .limit(LIMIT)
        .subquery()
    )
    counted = _lines(
        select(*LINE_COLUMNS, top.c.last_on, top.c.times)
        .join(top, top.c.structure_id == Structure.id)
        .order_by(top.c.last_on.desc(), Structure.name)
    )
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
        totals[transformed] = db.session.scalar(
            select(func.count()).select_from(f).where(*where, f.c.transformed.is_(transformed))
        )
        # The page's 100 ids first (one range of the facts), then their columns: no entity loads.
        ids = (
            select(f.c.opportunity_id)
            .where(*where, f.c.transformed.is_(transformed))
            .order_by(f.c.identified_on.desc(), f.c.opportunity_id.desc())
            .limit(LIMIT)
            .subquery()
        )
        rows = db.session.execute(
            select(
                Opportunity.id,
                Opportunity.title,
                Opportunity.structure_id,
                Structure.name,
                Opportunity.department_code,
                Opportunity.identified_on,
                Opportunity.stage,
            )
            .join(ids, ids.c.opportunity_id == Opportunity.id)
            .join(Structure, Structure.id == Opportunity.structure_id)
            .order_by(Opportunity.identified_on.desc(), Opportunity.id.desc())
        ).all()
        lines[transformed] = [
            OpportunityLine(*row, stage_label=STAGES.get(row.stage, row.stage), transformed=transformed) for row in rows
        ]
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
    counted = _lines(
        select(*LINE_COLUMNS, engaged.c.since, engaged.c.projects)
        .join(engaged, engaged.c.structure_id == Structure.id)
        .order_by(Structure.department_code, Structure.name)
        .limit(LIMIT)
    )
    others, others_total = _population_others(
        scope.departments, targets, scope.period.end, scope.period.end, select(engaged.c.structure_id)
    )
    return Detail(counted, total, others, others_total)
