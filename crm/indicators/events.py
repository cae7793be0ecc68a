"""Per event figures: registrations by status, no-show rate, who came (department, sector), satisfaction.

Written for a list of events at once, so that a series page compares its days with a few grouped queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import case, distinct, func, select

from crm.events.followup.survey_models import SurveyResponse
from crm.events.models import Event, Registration
from crm.indicators.definitions import rate
from crm.platform.extensions import db
from crm.referential.models import Department, Sector
from crm.structures.models import Structure

STATUSES = ("inscrit", "attente", "annule", "present", "absent", "excuse")
# Everyone who held a seat at some point and did not give it back.
REGISTERED = ("inscrit", "present", "absent", "excuse")
UNKNOWN = "Non renseigné"


@dataclass
class EventFigures:
    event_id: int
    counts: dict[str, int] = field(default_factory=lambda: {s: 0 for s in STATUSES})
    structures_reached: int = 0
    answers: int = 0
    useful: int = 0
    mean_score: float | None = None
    by_department: list[tuple[str, int]] = field(default_factory=list)
    by_sector: list[tuple[str, int]] = field(default_factory=list)

    @property
    def registered(self) -> int:
        return sum(self.counts[s] for s in REGISTERED)

    @property
    def attendance_known(self) -> bool:
        return any(self.counts[s] for s in ("present", "absent", "excuse"))

    @property
    def no_show_rate(self) -> float | None:
        """Absent / (present + absent): the excused are not no-shows."""
        return rate(self.counts["absent"], self.counts["present"] + self.counts["absent"])

    @property
    def useful_rate(self) -> float | None:
        return rate(self.useful, self.answers)

    @property
    def answer_rate(self) -> float | None:
        return rate(self.answers, self.counts["present"])


def _participant_statuses(figures: EventFigures) -> tuple[str, ...]:
    """Who is counted by department and sector: those present once attendance is recorded, else the registered."""
    return ("present",) if figures.attendance_known else ("inscrit",)


def event_figures(event_ids: list[int], *, breakdowns: bool = True) -> dict[int, EventFigures]:
    """The figures of each event in ``event_ids`` (every id has an entry, zeros when nothing happened)."""
    figures = {event_id: EventFigures(event_id) for event_id in event_ids}
    if not event_ids:
        return figures
    for event_id, status, count in db.session.execute(
        select(Registration.event_id, Registration.status, func.count())
        .where(Registration.event_id.in_(event_ids))
        .group_by(Registration.event_id, Registration.status)
    ):
        figures[event_id].counts[status] = count
    for event_id, reached in db.session.execute(
        select(Registration.event_id, func.count(distinct(Registration.structure_id)))
        .where(
            Registration.event_id.in_(event_ids),
            Registration.status == "present",
            Registration.structure_id.is_not(None),
        )
        .group_by(Registration.event_id)
    ):
        figures[event_id].structures_reached = reached
    for event_id, answers, useful, mean in db.session.execute(
        select(
            SurveyResponse.event_id,
            func.count(),
            func.sum(case((SurveyResponse.useful.is_(True), 1), else_=0)),
            func.avg(SurveyResponse.score),
        )
        .where(SurveyResponse.event_id.in_(event_ids))
        .group_by(SurveyResponse.event_id)
    ):
        figures[event_id].answers, figures[event_id].useful = answers, int(useful or 0)
        figures[event_id].mean_score = float(mean) if mean is not None else None
    if breakdowns:
        for item in figures.values():
            _breakdowns(item)
    return figures


def _breakdowns(figures: EventFigures) -> None:
    statuses = _participant_statuses(figures)
    department = func.coalesce(Structure.department_code, Registration.department_code)
    base = (
        select(Registration.id)
        .outerjoin(Structure, Structure.id == Registration.structure_id)
        .where(Registration.event_id == figures.event_id, Registration.status.in_(statuses))
    )
    rows = db.session.execute(
        base.with_only_columns(department, Department.name, func.count())
        .outerjoin(Department, Department.code == department)
        .group_by(department, Department.name)
        .order_by(func.count().desc(), department.is_(None), department)
    ).all()
    figures.by_department = [(f"{code} – {name}" if code else UNKNOWN, count) for code, name, count in rows]
    rows = db.session.execute(
        base.with_only_columns(Sector.label, func.count())
        .outerjoin(Sector, Sector.id == Structure.sector_id)
        .group_by(Sector.label)
        .order_by(func.count().desc(), Sector.label.is_(None), Sector.label)
    ).all()
    figures.by_sector = [(label or "Structure non rattachée ou sans secteur", count) for label, count in rows]


def series_figures(series_id: int) -> tuple[list[Event], dict[int, EventFigures], EventFigures]:
    """The days of a series in date order, the figures of each, and the series as a whole.

    The whole counts a structure reached on two days once, and averages the scores over every answer.
    """
    events = list(
        db.session.scalars(select(Event).where(Event.series_id == series_id).order_by(Event.starts_at, Event.id))
    )
    ids = [e.id for e in events]
    figures = event_figures(ids, breakdowns=False)
    total = EventFigures(0)
    for item in figures.values():
        for status, count in item.counts.items():
            total.counts[status] += count
        total.answers += item.answers
        total.useful += item.useful
    if ids:
        total.structures_reached = (
            db.session.scalar(
                select(func.count(distinct(Registration.structure_id))).where(
                    Registration.event_id.in_(ids),
                    Registration.status == "present",
                    Registration.structure_id.is_not(None),
                )
            )
            or 0
        )
        mean = db.session.scalar(select(func.avg(SurveyResponse.score)).where(SurveyResponse.event_id.in_(ids)))
        total.mean_score = float(mean) if mean is not None else None
    return events, figures, total
