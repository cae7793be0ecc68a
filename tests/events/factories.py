"""Events and registrations for the follow-up tests, written as rows (the events services have their own tests)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import select

from crm.events.models import Event, EventSeries, EventType, Registration
from crm.platform.extensions import db
from crm.platform.text import fold


def event_type(code="webinaire", label="Webinaire") -> EventType:
    found = db.session.scalar(select(EventType).where(EventType.code == code))
    if found is None:
        found = EventType(code=code, label=label)
        db.session.add(found)
        db.session.flush()
    return found


def make_event(
    *,
    title="Webinaire Mon espace santé",
    status="publie",
    days_ago=1,
    department_code="31",
    series=None,
    type_code="webinaire",
    capacity=None,
    commit=True,
) -> Event:
    start = datetime.now(UTC) - timedelta(days=days_ago)
    event = Event(
        type_id=event_type(type_code).id,
        title=title,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        department_code=department_code,
        status=status,
        capacity=capacity,
        uid=f"{secrets.token_hex(8)}@maillage",
        slug=secrets.token_urlsafe(9),
        series_id=series.id if series else None,
    )
    db.session.add(event)
    if commit:
        db.session.commit()
    return event


def make_series(title="TOP e-santé 2024") -> EventSeries:
    series = EventSeries(title=title)
    db.session.add(series)
    db.session.commit()
    return series


def add_registration(
    event: Event,
    email: str,
    *,
    first_name="Jeanne",
    last_name="Martin",
    status="inscrit",
    structure=None,
    structure_name=None,
    department_code=None,
    contact=None,
    source="public",
    commit=True,
    **values,
) -> Registration:
    registration = Registration(
        event_id=event.id,
        first_name=first_name,
        last_name=last_name,
        email=email,
        email_key=email.lower(),
        name_key=fold(f"{last_name} {first_name}"),
        status=status,
        source=source,
        structure_id=structure.id if structure else None,
        structure_name=structure_name,
        department_code=structure.department_code if structure else department_code,
        contact_id=contact.id if contact else None,
        **values,
    )
    db.session.add(registration)
    if commit:
        db.session.commit()
    return registration
