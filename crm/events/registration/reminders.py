"""The reminder before an event: one email to each person holding a seat, never once the event has begun."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select

from crm.events.models import ANONYMOUS_DOMAIN, Event, Registration, as_utc
from crm.events.registration import emails
from crm.mail.models import EmailMessage
from crm.platform.extensions import db


def registrations_to_remind(now: datetime, delay: timedelta, limit: int = 1000) -> list[int]:
    """Ids of the "inscrit" registrations of the published events starting within ``delay`` of ``now``
    (not started yet), made before the reminder time (a later registrant has just had the confirmation)."""
    ids: list[int] = []
    events = db.session.execute(
        select(Event.id, Event.starts_at)
        .where(Event.status == "publie", Event.starts_at > now, Event.starts_at <= now + delay)
        .order_by(Event.starts_at, Event.id)
    ).all()
    for event_id, starts_at in events:
        remind_at = as_utc(starts_at) - delay
        ids += db.session.scalars(
            select(Registration.id)
            .where(
                Registration.event_id == event_id,
                Registration.status == "inscrit",
                Registration.registered_at < remind_at,
                or_(Registration.promoted_at.is_(None), Registration.promoted_at < remind_at),
                ~Registration.email_key.endswith("@" + ANONYMOUS_DOMAIN),
            )
            .order_by(Registration.id)
            .limit(limit - len(ids))
        )
        if len(ids) >= limit:
            break
    return ids


def send_reminder(registration: Registration, now: datetime) -> tuple[EmailMessage | None, str]:
    """Queue the reminder of one registration (the caller commits), once (``reminder:<registration id>``);
    returns the message (None when not sent) and why."""
    event = registration.event
    if registration.status != "inscrit":
        return None, f"inscription au statut « {registration.status_label} » : pas de rappel"
    if event.status != "publie":
        return None, f"événement au statut « {event.status_label} » : pas de rappel"
    if as_utc(event.starts_at) <= now:
        return None, "événement commencé : pas de rappel"
    message = emails.reminder(registration, dedupe_key=f"reminder:{registration.id}")
    return message, "rappel envoyé" if message is not None else "rappel déjà envoyé"
