"""The events of the activity report: those that took place in the scope, per event type and per programme.

Read from ``ind_event_facts`` (one row per event, kept by the worker). An event counts when it took place:
published or closed (a draft has not happened, a cancelled one will not), starting in the period. The
programme and offer filters read the event's programmes and offers (an offer stands for its programme, as
in the participation): a few rows per event, always current. An event without a department (online)
belongs to the region as a whole: it counts when the scope covers every department of the region.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, literal_column, or_, select

from crm.events.models import EventType, event_offers
from crm.events.queries import event_programme_pairs, event_types
from crm.indicators.definitions import rate
from crm.indicators.queries import Figure, Labels, Scope
from crm.indicators.readmodel import models as m
from crm.indicators.readmodel.derivations import EVENTS_TAKEN_PLACE as TOOK_PLACE
from crm.platform.extensions import db
from crm.referential.models import Programme
from crm.referential.services import region_department_codes

WEBINAR = "webinaire"


@dataclass(frozen=True)
class EventGroup:
    """The events of one type (or one programme): how many, who was present, how useful they found them."""

    key: str | int
    label: str
    events: int
    present: int
    answers: int
    useful: int

    @property
    def useful_share(self) -> float | None:
        """Answers "useful" / answers: None (shown "—") when nobody answered."""
        return rate(self.useful, self.answers)

    def as_dict(self) -> dict:
        return {
            "label": self.label,
            "events": self.events,
            "present": self.present,
            "answers": self.answers,
            "useful": self.useful,
            "useful_share": self.useful_share,
        }


def event_where(scope: Scope, event_type: str | None = None) -> list:
    """The conditions on ``ind_event_facts`` of the events that took place in the scope."""
    e = m.EventFact.__table__
    where = [e.c.starts_on.between(scope.period.start, scope.period.end), e.c.status.in_(TOOK_PLACE)]
    departments = e.c.department_code.in_(scope.departments)
    if set(scope.departments) >= set(region_department_codes()):
        departments = or_(departments, e.c.department_code == "")
    where.append(departments)
    if scope.animator_id:
        where.append(e.c.organiser_id == scope.animator_id)
    if event_type:
        where.append(e.c.type_code == event_type)
    if scope.programme_id:
        pairs = event_programme_pairs()
        where.append(e.c.event_id.in_(select(pairs.c.event_id).where(pairs.c.programme_id == scope.programme_id)))
    if scope.offer_id:
        where.append(e.c.event_id.in_(select(event_offers.c.event_id).where(event_offers.c.offer_id == scope.offer_id)))
    return where


def _sums():
    e = m.EventFact.__table__
    return (
        func.count(),
        func.coalesce(func.sum(e.c.present), 0),
        func.coalesce(func.sum(e.c.answers), 0),
        func.coalesce(func.sum(e.c.useful), 0),
    )


def events_by_type(scope: Scope, event_type: str | None = None) -> list[EventGroup]:
    """One row per event type (every active type, and any other that had events), in the types' order."""
    e = m.EventFact.__table__
    counted = {
        row[0]: row[1:]
        for row in db.session.execute(
            select(e.c.type_code, *_sums()).where(*event_where(scope, event_type)).group_by(e.c.type_code)
        )
    }
    rows = []
    for t in event_types(active_only=False):
        if (t.active and not event_type) or t.code in counted or t.code == event_type:
            rows.append(EventGroup(t.code, t.label, *(int(x) for x in counted.pop(t.code, (0, 0, 0, 0)))))
    rows += [EventGroup(code, code, *(int(x) for x in values)) for code, values in sorted(counted.items())]
    return rows


def events_by_programme(scope: Scope, event_type: str | None = None) -> list[EventGroup]:
    """One row per programme that had events (an event of two programmes counts in both; "Sans programme"
    for those of none), in the programmes' order."""
    e = m.EventFact.__table__
    pairs = event_programme_pairs()
    programme = func.coalesce(pairs.c.programme_id, literal_column("0"))
    query = (
        select(programme, *_sums())
        .select_from(e.outerjoin(pairs, pairs.c.event_id == e.c.event_id))
        .where(*event_where(scope, event_type))
        .group_by(programme)
    )
    if scope.programme_id:  # the other programmes of its events are not what was asked
        query = query.where(pairs.c.programme_id == scope.programme_id)
    labels = Labels()
    rows = [
        EventGroup(int(pid), labels.of("programme", pid), *(int(x) for x in values))
        for pid, *values in db.session.execute(query)
    ]
    order = {pid: number for pid, number in db.session.execute(select(Programme.id, Programme.number))}
    return sorted(rows, key=lambda row: (row.key == 0, order.get(row.key, 0), row.label))


@dataclass(frozen=True)
class EventTotals:
    territorial: int  # events other than webinars
    webinars: int
    webinar_participants: int
    webinar_useful: Figure


def event_totals(scope: Scope, event_type: str | None = None) -> EventTotals:
    """The report's event figures, from the rows per type (one query)."""
    rows = events_by_type(scope, event_type)
    webinars = [row for row in rows if row.key == WEBINAR]
    webinar = webinars[0] if webinars else EventGroup(WEBINAR, "Webinaire", 0, 0, 0, 0)
    return EventTotals(
        territorial=sum(row.events for row in rows if row.key != WEBINAR),
        webinars=webinar.events,
        webinar_participants=webinar.present,
        webinar_useful=Figure(
            ("useful",), "Participants ayant trouvé le webinaire utile", webinar.useful, webinar.answers
        ),
    )


def event_type_choices() -> list[tuple[str, str]]:
    """(code, label) of every event type, in their order (the type filter's choices)."""
    return [(t.code, t.label) for t in event_types(active_only=False)]


def known_event_type(code: str) -> bool:
    return db.session.scalar(select(EventType.id).where(EventType.code == code)) is not None
