"""Capacity under concurrency: the seats taken, the event's lock, the quota of public registrations per address.

The waiting list that fills the freed seats is :mod:`crm.events.registration.waiting_list`.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from crm.events.models import SEAT_STATUSES, Event, Registration
from crm.platform.extensions import db
from crm.platform.locking import REGISTRATION_ADDRESS, advisory_lock, lock_row
from crm.platform.models import utcnow


class TooManyRegistrations(ValueError):
    """The client address stored its quota of public registrations in the window."""


def _seats_taken_query(event_id: int):
    return select(db.func.count()).where(Registration.event_id == event_id, Registration.status.in_(SEAT_STATUSES))


def seats_taken(event_id: int) -> int:
    return db.session.scalar(_seats_taken_query(event_id)) or 0


def registration_counts(event_id: int) -> dict[str, int]:
    """Registrations of the event per status (every status present, 0 when none)."""
    rows = db.session.execute(
        select(Registration.status, func.count()).where(Registration.event_id == event_id).group_by(Registration.status)
    ).all()
    counts = {status: 0 for status in ("inscrit", "attente", "annule", "present", "absent", "excuse")}
    counts.update({status: count for status, count in rows})
    counts["places_prises"] = sum(counts[s] for s in SEAT_STATUSES)
    return counts


def lock_event(event: Event) -> None:
    """Serialise the registrations of one event: a row lock on PostgreSQL.

    SQLite has no row locks: a no-op write takes its database-wide write lock before the seats are counted.
    """
    lock_row(Event, event.id)


def within_address_quota(event: Event, client_ip: str) -> None:
    """Raise TooManyRegistrations when ``client_ip`` stored its quota of registrations in the window.

    Counted under a lock per address held until the commit: without it, requests sent at once all
    counted the same rows before any of them inserted (40 at once stored 22 for a limit of 20).
    """
    config = current_app.config
    advisory_lock(REGISTRATION_ADDRESS, client_ip)  # SQLite: its database-wide write lock serialises every address
    since = utcnow() - timedelta(minutes=config["EVENT_REGISTRATION_WINDOW_MINUTES"])
    count = db.session.scalar(
        select(db.func.count()).where(Registration.client_ip == client_ip, Registration.registered_at >= since)
    )
    if count >= config["EVENT_REGISTRATIONS_PER_IP"]:
        db.session.rollback()  # release the lock
        raise TooManyRegistrations(
            "Trop d'inscriptions ont été envoyées depuis votre connexion. Réessayez dans quelques minutes."
        )


def seats_and_existing(event_id: int, email_key: str) -> tuple[int, int | None]:
    """Seats taken and the id of this email's registration, in one statement (run under the event's lock,
    so that its snapshot sees every registration committed before)."""
    existing = select(Registration.id).where(Registration.event_id == event_id, Registration.email_key == email_key)
    row = db.session.execute(select(_seats_taken_query(event_id).scalar_subquery(), existing.scalar_subquery())).one()
    return row[0] or 0, row[1]
