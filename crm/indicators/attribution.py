"""What an event produced: the opportunities that came from it, and the projects they became.

An opportunity is attributed to an event when

* it names the event as its source (``source_event_id``, with the source "evenement"), or
* it names no event and was identified within ``ATTRIBUTION_DAYS`` days (90 by default) after the event's
  first day, at a structure that was present at it (a registration marked present).

An opportunity that names an event belongs to that one only, even if its structure attended another within
the window. A series sums its events, counting once an opportunity two of its days led to.

Read from the records, not from the indicator cells: events are few, and each lookup goes through the
registrations of one event and the opportunities of the structures present (a handful per structure, on
``ix_opportunities_structure``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import and_, or_, select

from crm.events.models import Event, Registration
from crm.indicators.definitions import rate
from crm.pipeline.models import Opportunity, Project
from crm.platform.dates import local_date
from crm.platform.extensions import db

DEFAULT_DAYS = 90


@dataclass(frozen=True)
class Produced:
    """One opportunity an event (or a series) produced, and why it counts."""

    opportunity: Opportunity
    project: Project | None
    named: bool  # the opportunity names the event as its source
    days_after: int  # from the event's first day to the identification


@dataclass
class Attribution:
    items: list[Produced] = field(default_factory=list)

    @property
    def opportunities(self) -> int:
        return len(self.items)

    @property
    def named(self) -> int:
        return sum(1 for item in self.items if item.named)

    @property
    def within_window(self) -> int:
        return self.opportunities - self.named

    @property
    def projects(self) -> int:
        return sum(1 for item in self.items if item.project is not None)

    @property
    def transformation_rate(self) -> float | None:
        return rate(self.projects, self.opportunities)


def attribution_days() -> int:
    return int(current_app.config.get("ATTRIBUTION_DAYS", DEFAULT_DAYS))


def _first_day(event: Event) -> date:
    return local_date(event.starts_at)


def _links(events: list[Event], days: int) -> dict[int, dict[int, bool]]:
    """event id -> {opportunity id: named}, in two queries whatever the number of events."""
    links: dict[int, dict[int, bool]] = {event.id: {} for event in events}
    if not events:
        return links
    for opportunity_id, event_id in db.session.execute(
        select(Opportunity.id, Opportunity.source_event_id).where(Opportunity.source_event_id.in_(list(links)))
    ):
        links[event_id][opportunity_id] = True
    windows = [
        and_(
            Registration.event_id == event.id,
            Opportunity.identified_on.between(_first_day(event), _first_day(event) + timedelta(days=days)),
        )
        for event in events
    ]
    rows = db.session.execute(
        select(Registration.event_id, Opportunity.id)
        .distinct()
        .join(Opportunity, Opportunity.structure_id == Registration.structure_id)
        .where(Registration.status == "present", Opportunity.source_event_id.is_(None), or_(*windows))
    )
    for event_id, opportunity_id in rows:
        links[event_id].setdefault(opportunity_id, False)
    return links


def _load(opportunity_ids: set[int]) -> tuple[dict[int, Opportunity], dict[int, Project]]:
    if not opportunity_ids:
        return {}, {}
    opportunities = {
        o.id: o for o in db.session.scalars(select(Opportunity).where(Opportunity.id.in_(opportunity_ids)))
    }
    projects = {
        p.opportunity_id: p
        for p in db.session.scalars(select(Project).where(Project.opportunity_id.in_(opportunity_ids)))
    }
    return opportunities, projects


def _ordered(items: list[Produced]) -> list[Produced]:
    return sorted(items, key=lambda item: (item.opportunity.identified_on, item.opportunity.id))


def attribute(events: list[Event], days: int | None = None) -> dict[int, Attribution]:
    """The attribution of each event of ``events`` (every event has an entry, empty when it produced nothing)."""
    days = attribution_days() if days is None else days
    links = _links(events, days)
    opportunities, projects = _load({oid for per_event in links.values() for oid in per_event})
    out = {}
    for event in events:
        first = _first_day(event)
        out[event.id] = Attribution(
            _ordered(
                [
                    Produced(
                        opportunities[oid], projects.get(oid), named, (opportunities[oid].identified_on - first).days
                    )
                    for oid, named in links[event.id].items()
                ]
            )
        )
    return out


def event_attribution(event: Event, days: int | None = None) -> Attribution:
    return attribute([event], days)[event.id]


def series_attribution(events: list[Event], days: int | None = None) -> tuple[dict[int, Attribution], Attribution]:
    """Each event's attribution, and the series' whole, where an opportunity two days led to counts once
    (its delay from the first of them). One that names an event is only ever attributed to that one."""
    per_event = attribute(events, days)
    whole: dict[int, Produced] = {}
    for event in sorted(events, key=lambda e: (_first_day(e), e.id)):
        for item in per_event[event.id].items:
            whole.setdefault(item.opportunity.id, item)
    return per_event, Attribution(_ordered(list(whole.values())))
