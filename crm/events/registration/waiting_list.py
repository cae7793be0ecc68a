"""The waiting list: who gets a seat when one frees up (a cancellation, a larger capacity), first come first served.

An event that is full puts the next registrants on the list (:func:`crm.events.registration.registrations.register`).
"""

from __future__ import annotations

from sqlalchemy import select

from crm.events.models import Event, Registration
from crm.events.payloads import record_registration_change
from crm.events.registration.capacity import seats_taken
from crm.platform.extensions import db
from crm.platform.models import utcnow


def fill_free_seats(event: Event, *, user_id: int | None = None) -> list[Registration]:
    """Give the free seats to the waiting list, first come first served (the caller commits); the
    ``registration.promoted`` event has the ``registration_emails`` rule email each person."""
    promoted = []
    if event.status not in ("publie", "brouillon"):
        return promoted
    free = None if event.capacity is None else event.capacity - seats_taken(event.id)
    query = (
        select(Registration)
        .where(Registration.event_id == event.id, Registration.status == "attente")
        .order_by(Registration.registered_at, Registration.id)
    )
    if free is not None:
        if free <= 0:
            return promoted
        query = query.limit(free)
    now = utcnow()
    for registration in db.session.scalars(query).all():
        registration.status = "inscrit"
        registration.promoted_at = now
        db.session.flush()
        record_registration_change(registration, "registration.promoted", {"status": ["attente", "inscrit"]}, user_id)
        promoted.append(registration)
    return promoted
