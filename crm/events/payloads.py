"""What the outbox events of events and registrations carry (the dimensions the indicators and the rules
read), and the one helper that writes a registration's change with its event.

Written by the event's life (crm.events.services), its registrations (crm.events.registration), the
follow-up (attendance import, survey) and the seed; read by crm.indicators and workflows.rules.
"""

from __future__ import annotations

from crm.events.models import Event, Registration
from crm.platform.events import record_change
from crm.structures.models import Structure

EVENT_PAYLOAD_KEYS = (
    "event_id",
    "event_type",
    "department",
    "programme_ids",
    "offer_ids",
    "series_id",
    "starts_at",
    "ends_at",
)


def event_payload(event: Event) -> dict:
    """What the indicator engine and the workflow rules read of an event."""
    return {
        "event_id": event.id,
        "event_type": event.type.code if event.type else None,
        "department": event.department_code,
        "programme_ids": [p.id for p in event.programmes],
        "offer_ids": [o.id for o in event.offers],
        "series_id": event.series_id,
        "status": event.status,
        "starts_at": event.starts_at,
        "ends_at": event.ends_at,
        "capacity": event.capacity,
        "organiser_id": event.organiser_id,
        "sequence": event.sequence,
    }


def event_part(event: Event) -> dict:
    """The keys of :func:`event_payload` a registration's payload repeats."""
    return {k: v for k, v in event_payload(event).items() if k in EVENT_PAYLOAD_KEYS}


def structure_part(structure: Structure | None, department_code: str | None) -> dict:
    return {
        "structure_department": structure.department_code if structure else department_code,
        "structure_sector": structure.sector.code if structure and structure.sector else None,
    }


def registration_payload(registration: Registration, event: Event | None = None, *, parts: dict | None = None) -> dict:
    """The event's dimensions and the structure's, for the indicators (participation counts structures).

    ``parts``: the event's and structure's keys read beforehand (``register`` reads them before
    taking the event's lock).
    """
    if parts is None:
        parts = {
            **event_part(event or registration.event),
            **structure_part(registration.structure, registration.department_code),
        }
    return {
        **parts,
        "registration_id": registration.id,
        "status": registration.status,
        "source": registration.source,
        "structure_id": registration.structure_id,
        "contact_id": registration.contact_id,
        "registered_at": registration.registered_at,
        "cancelled_at": registration.cancelled_at,
        "promoted_at": registration.promoted_at,
        "attended_at": registration.attended_at,
    }


def record_registration_change(
    registration: Registration,
    event_type: str,
    changes: dict,
    user_id: int | None,
    *,
    parts: dict | None = None,
    **extra,
) -> None:
    """Audit a registration's change and write its outbox event (under its event), in the caller's session."""
    record_change(
        entity_type="registration",
        entity_id=registration.id,
        action="update",
        changes=changes,
        event_type=event_type,
        payload={**registration_payload(registration, parts=parts), **extra},
        user_id=user_id,
        parent=("event", registration.event_id),
    )
