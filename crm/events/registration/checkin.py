"""Attendance on the day: present, absent or excused, and closing the check-in (everyone not marked is absent).

The check-in screen is :mod:`crm.events.registration.checkin_routes`; an attendance report imported after
the event is :mod:`crm.events.followup.attendance`.
"""

from __future__ import annotations

from sqlalchemy import select

from crm.events.models import ATTENDANCE_STATUSES, Event, Registration
from crm.events.payloads import record_registration_change
from crm.events.registration.capacity import lock_event
from crm.platform.dates import local_date, local_today
from crm.platform.extensions import db
from crm.platform.models import utcnow
from crm.platform.validation import ValidationFailed


def before_the_day_error(event: Event, today=None) -> str | None:
    """Who came and who did not is known from the event's day (in Paris) on: before it, a check-in would
    count as a participation on a day that has not come."""
    day = local_date(event.starts_at)
    if (today or local_today()) < day:
        return f"La présence se note à partir du jour de l'événement (le {day:%d/%m/%Y})."
    return None


def mark_attendance(
    registration: Registration, status: str, *, user_id: int | None = None, commit: bool = True
) -> Registration:
    """Staff: present, absent or excusé (present and absent on the day, or after it; excused at any time)."""
    if status not in ATTENDANCE_STATUSES:
        raise ValidationFailed({"status": "Statut de présence inconnu (présent, absent ou excusé)."})
    if registration.event.status not in ("publie", "clos"):
        raise ValidationFailed({"status": "La présence se note sur un événement publié ou clos."})
    if status != "excuse" and (message := before_the_day_error(registration.event)):
        raise ValidationFailed({"status": message})
    if registration.status == status:
        return registration
    from_status = registration.status
    registration.status = status
    registration.attended_at = utcnow() if status == "present" else None
    db.session.flush()
    record_registration_change(
        registration, "attendance.recorded", {"status": [from_status, status]}, user_id, from_status=from_status
    )
    if commit:
        db.session.commit()
    return registration


def finish_check_in(event: Event, *, user_id: int | None = None) -> int:
    """Everyone still only "inscrit" is absent (the excused stay excused); returns how many."""
    if event.status not in ("publie", "clos"):
        raise ValidationFailed({"status": "L'accueil se clôture sur un événement publié ou clos."})
    if message := before_the_day_error(event):
        raise ValidationFailed({"status": message})
    lock_event(event)
    remaining = db.session.scalars(
        select(Registration).where(Registration.event_id == event.id, Registration.status == "inscrit")
    ).all()
    for registration in remaining:
        mark_attendance(registration, "absent", user_id=user_id, commit=False)
    db.session.commit()
    return len(remaining)
