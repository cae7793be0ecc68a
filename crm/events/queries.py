"""Reading events and registrations for the pages and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select, union

from crm.events.models import EVENT_STATUSES, Event, EventType, Registration, event_offers, event_programmes
from crm.platform.dates import PARIS, local_date, local_today
from crm.platform.extensions import db
from crm.platform.models import utcnow
from crm.platform.paging import Page
from crm.platform.text import search_tokens
from crm.referential.models import Offer


def event_programme_pairs():
    """(event_id, programme_id): the event's programmes, and those of its offers (an offer stands for its
    programme, as in the indicators)."""
    return union(
        select(event_programmes.c.event_id, event_programmes.c.programme_id),
        select(event_offers.c.event_id, Offer.programme_id).join(Offer, Offer.id == event_offers.c.offer_id),
    ).subquery()


def paris_year_bounds(year: int) -> tuple[datetime, datetime]:
    """1 January of ``year`` and of the next one, at midnight in Paris, as UTC moments."""
    return tuple(datetime(y, 1, 1, tzinfo=PARIS).astimezone(UTC) for y in (year, year + 1))


def event_years() -> list[int]:
    """The years events start in (Paris), most recent first, for the list's year filter."""
    first, last = db.session.execute(select(func.min(Event.starts_at), func.max(Event.starts_at))).one()
    if first is None:
        return [local_today().year]
    return list(range(max(local_date(last).year, local_today().year), local_date(first).year - 1, -1))


@dataclass
class EventFilters:
    period: str | None = None  # "a_venir" | "passes"
    type_id: int | None = None
    department: str | None = None
    status: str | None = None
    series_id: int | None = None
    year: int | None = None  # starting in that calendar year, in Paris
    programme_id: int | None = None  # about that programme, or one of its offers
    organiser_id: int | None = None  # the organiser's own events (their home page)

    def clauses(self) -> list:
        now = utcnow()
        clauses = []
        if self.period == "a_venir":
            clauses.append(Event.ends_at >= now)
        elif self.period == "passes":
            clauses.append(Event.ends_at < now)
        if self.year:
            start, end = paris_year_bounds(self.year)
            clauses += [Event.starts_at >= start, Event.starts_at < end]
        if self.programme_id:
            pairs = event_programme_pairs()
            clauses.append(Event.id.in_(select(pairs.c.event_id).where(pairs.c.programme_id == self.programme_id)))
        if self.type_id:
            clauses.append(Event.type_id == self.type_id)
        if self.department:
            clauses.append(Event.department_code == self.department)
        if self.status in EVENT_STATUSES:
            clauses.append(Event.status == self.status)
        if self.series_id:
            clauses.append(Event.series_id == self.series_id)
        if self.organiser_id:
            clauses.append(Event.organiser_id == self.organiser_id)
        return clauses


def list_events(filters: EventFilters, page: int = 1, per_page: int = 25) -> Page:
    """Upcoming events soonest first; past ones most recent first."""
    clauses = filters.clauses()
    total = db.session.scalar(select(func.count()).select_from(Event).where(*clauses)) or 0
    order = Event.starts_at.desc() if filters.period == "passes" else Event.starts_at
    items = list(
        db.session.scalars(
            select(Event)
            .where(*clauses)
            .order_by(order, Event.id)
            .offset((max(page, 1) - 1) * per_page)
            .limit(per_page)
        )
    )
    return Page(items=items, total=total, page=max(page, 1), per_page=per_page)


def counts_for(event_ids: list[int]) -> dict[int, dict[str, int]]:
    """Registrations per status for several events at once (the list page)."""
    result: dict[int, dict[str, int]] = {i: {} for i in event_ids}
    if event_ids:
        rows = db.session.execute(
            select(Registration.event_id, Registration.status, func.count())
            .where(Registration.event_id.in_(event_ids))
            .group_by(Registration.event_id, Registration.status)
        )
        for event_id, status, count in rows:
            result[event_id][status] = count
    return result


def event_types(active_only: bool = True) -> list[EventType]:
    query = select(EventType).order_by(EventType.position, EventType.label)
    if active_only:
        query = query.where(EventType.active.is_(True))
    return list(db.session.scalars(query))


def registrations_of(event_id: int, status: str | None = None) -> list[Registration]:
    query = select(Registration).where(Registration.event_id == event_id)
    if status:
        query = query.where(Registration.status == status)
    return list(db.session.scalars(query.order_by(Registration.last_name, Registration.first_name, Registration.id)))


def search_registrations(event_id: int, q: str, limit: int = 30) -> list[Registration]:
    """The check-in search: every word typed starts a word of the folded "last first" name.

    The name key is indexed with the event; at 1,000 registrants the scan of one event's rows is short.
    """
    tokens = search_tokens(q, limit=4)
    if not tokens:
        return []
    clauses = [
        or_(
            Registration.name_key.startswith(token, autoescape=True),
            Registration.name_key.contains(" " + token, autoescape=True),
        )
        for token in tokens
    ]
    return list(
        db.session.scalars(
            select(Registration)
            .where(Registration.event_id == event_id, Registration.status != "annule", *clauses)
            .order_by(Registration.name_key, Registration.id)
            .limit(limit)
        )
    )


def registrations_page(event_id: int, *, status: str | None = None, page: int = 1, per_page: int = 50) -> Page:
    """One event's registrations in registration order (the waiting list's order)."""
    clauses = [Registration.event_id == event_id]
    if status:
        clauses.append(Registration.status == status)
    total = db.session.scalar(select(func.count()).select_from(Registration).where(*clauses)) or 0
    items = list(
        db.session.scalars(
            select(Registration)
            .where(*clauses)
            .order_by(Registration.registered_at, Registration.id)
            .offset((max(page, 1) - 1) * per_page)
            .limit(per_page)
        )
    )
    return Page(items=items, total=total, page=max(page, 1), per_page=per_page)


def past_events(days: int = 366, limit: int = 200) -> list[Event]:
    """Events that took place in the last ``days`` days (not drafts, not cancelled), the latest first: what an
    opportunity form offers as the event a need came from."""
    now = utcnow()
    return list(
        db.session.scalars(
            select(Event)
            .where(
                Event.status.in_(("publie", "clos")),
                Event.starts_at <= now,
                Event.starts_at >= now - timedelta(days=days),
            )
            .order_by(Event.starts_at.desc(), Event.id.desc())
            .limit(limit)
        )
    )
