"""Registrations: register (a seat or the waiting list), cancel, and the staff's status changes.

Capacity and its locks: :mod:`.capacity`; the waiting-list promotion: :mod:`.waiting_list`; the personal
links: :mod:`.links`; attendance: :mod:`.checkin`; the emails: :mod:`.emails`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crm.events.models import ATTENDANCE_STATUSES, REGISTRATION_SOURCES, Event, Registration, as_utc
from crm.events.payloads import event_part, record_registration_change, registration_payload, structure_part
from crm.events.registration import emails
from crm.events.registration.capacity import lock_event, seats_and_existing, within_address_quota
from crm.events.registration.checkin import mark_attendance
from crm.events.registration.waiting_list import fill_free_seats
from crm.mail.models import EmailMessage
from crm.platform.events import record_change
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent, utcnow
from crm.platform.text import fold
from crm.platform.validation import ValidationFailed, blank, email_error, parse_int, text
from crm.referential.services import known_department
from crm.structures.models import Structure

RESEND_MINUTES = 10
TRUE_VALUES = ("1", "true", "on", "oui", "yes", "y")
FALSE_VALUES = ("", "0", "false", "off", "non", "no", "n")


def _boolean(value) -> bool | None:
    """A checkbox or JSON boolean; None when it is neither."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE_VALUES + FALSE_VALUES:
        return value.strip().lower() in TRUE_VALUES
    return None


class RegistrationClosed(ValueError):
    """The event does not take registrations (not published, window closed...): a French message."""


def _person(data: dict, source: str) -> dict:
    """Validated person fields, with a French message per refused field."""
    errors: dict[str, str] = {}
    values = {
        "first_name": text(
            data.get("first_name"),
            errors,
            "first_name",
            max_length=80,
            required=True,
            message="Indiquez votre prénom.",
            one_line=True,
        ),
        "last_name": text(
            data.get("last_name"),
            errors,
            "last_name",
            max_length=80,
            required=True,
            message="Indiquez votre nom.",
            one_line=True,
        ),
        "email": text(
            data.get("email"),
            errors,
            "email",
            max_length=254,
            required=True,
            message="Indiquez votre adresse email professionnelle.",
        ),
        "function": text(data.get("function"), errors, "function", max_length=120, one_line=True),
        "structure_name": text(data.get("structure_name"), errors, "structure_name", max_length=255, one_line=True),
    }
    if values["email"] and "email" not in errors and (error := email_error(values["email"])):
        errors["email"] = error
    structure_id = parse_int(
        data.get("structure_id"), errors, "structure_id", minimum=1, maximum=2**31 - 1, message="Structure invalide."
    )
    if "structure_id" in errors:
        errors["structure_id"] = "Structure invalide."
    structure = db.session.get(Structure, structure_id) if structure_id else None
    if structure_id and structure is None:
        errors["structure_id"] = "Structure inconnue : choisissez-la dans la liste ou saisissez son nom."
    department = blank(data.get("department_code"))
    if department is not None and not known_department(department):
        errors["department_code"] = "Département inconnu."
    if structure is None and "structure_id" not in errors:
        if values["structure_name"] and department is None and "department_code" not in errors:
            errors["department_code"] = "Indiquez le département de votre structure."
        elif not values["structure_name"] and source in ("public", "api") and "structure_name" not in errors:
            errors["structure_name"] = "Choisissez votre structure dans la liste ou saisissez son nom."
    consent = _boolean(data.get("consent_contact"))
    if consent is None:
        errors["consent_contact"] = "Réponse invalide (oui ou non)."
    if errors:
        raise ValidationFailed(errors)
    values["structure_id"] = structure.id if structure else None
    values["structure_name"] = None if structure else values["structure_name"]
    values["department_code"] = structure.department_code if structure else department
    values["consent_contact"] = consent
    values["email_key"] = values["email"].lower()
    values["name_key"] = fold(f"{values['last_name']} {values['first_name']}")[:170]
    return values


def closed_reason(event: Event, source: str, now: datetime | None = None) -> str | None:
    """Why ``event`` takes no registration from ``source`` now (None: it does)."""
    now = now or utcnow()
    if event.status == "annule":
        return "Cet événement est annulé."
    if event.status == "clos":
        return "Cet événement est terminé."
    if source == "back_office":
        return None
    if event.status != "publie":
        return "Les inscriptions à cet événement ne sont pas ouvertes."
    if event.registration_opens_at and now < as_utc(event.registration_opens_at):
        return "Les inscriptions ne sont pas encore ouvertes."
    closes = as_utc(event.registration_closes_at) or as_utc(event.ends_at)
    if now >= closes:
        return "Les inscriptions sont closes."
    return None


def register(
    event: Event, data: dict, *, source: str, user_id: int | None = None, client_ip: str | None = None
) -> tuple[Registration, str]:
    """Register a person; returns ``(registration, outcome)``.

    ``outcome``: "inscrit" or "attente" for a new (or re-activated) registration, "existant" when
    this email is already registered (no second row; its email is asked for again, unless one was
    in the last minutes). Capacity holds under concurrency: the event row is locked before the
    seats are counted; so does the quota of public registrations per ``client_ip``
    (TooManyRegistrations). The emails (personal link, invitation) are the ``registration_emails``
    workflow rule's: the request only writes the registration and its event.
    """
    if source not in REGISTRATION_SOURCES:
        raise ValueError(f"unknown registration source {source!r}")
    values = _person(data, source)
    reason = closed_reason(event, source)
    if reason:
        raise RegistrationClosed(reason)
    # What the payload says of the event (its programmes and offers) and of the structure is read before
    # the lock, which every registration to the event waits for: under it, two light statements.
    structure = db.session.get(Structure, values["structure_id"]) if values["structure_id"] else None
    parts = {**event_part(event), **structure_part(structure, values["department_code"])}
    if source == "public" and client_ip:
        within_address_quota(event, client_ip)
    lock_event(event)
    taken, existing_id = seats_and_existing(event.id, values["email_key"])
    existing = db.session.get(Registration, existing_id) if existing_id is not None else None
    if existing is not None and existing.status != "annule":
        _ask_again(existing, user_id)
        return existing, "existant"
    status = "inscrit" if event.capacity is None or taken < event.capacity else "attente"
    now = utcnow()
    if existing is not None:  # registered, cancelled, and back
        registration = existing
        for key, value in values.items():
            setattr(registration, key, value)
        registration.status, registration.registered_at, registration.cancelled_at = status, now, None
        registration.promoted_at = None
        # The cancelled registration's link must not come back to life: the new email brings a new one.
        registration.cancel_token_hash = registration.token_expires_at = None
        db.session.flush()
    else:
        registration = Registration(
            event_id=event.id,
            status=status,
            source=source,
            registered_at=now,
            client_ip=client_ip,
            created_by_id=user_id,
            **values,
        )
        db.session.add(registration)
        try:
            db.session.flush()
        except IntegrityError:
            # The same email won a race the lock did not cover: one registration, the first.
            db.session.rollback()
            found = _by_email(event.id, values["email_key"])
            if found is None:
                raise
            return found, "existant"
    record_registration_change(
        registration,
        "registration.created" if status == "inscrit" else "registration.waitlisted",
        {"status": [None, status]},
        user_id,
        parts=parts,
    )
    db.session.commit()
    return registration, status


# The events after which the registration_emails rule emails the person (their personal link).
EMAIL_EVENTS = (
    "registration.created",
    "registration.waitlisted",
    "registration.promoted",
    "registration.resend_requested",
)


def _ask_again(registration: Registration, user_id: int | None) -> None:
    """Someone registers again: their email (with a new personal link) is asked for again, at most every
    ``RESEND_MINUTES`` so that the form cannot flood an inbox (nor the outbox)."""
    since = utcnow() - timedelta(minutes=RESEND_MINUTES)
    recent_email = db.session.scalar(
        select(EmailMessage.id)
        .where(
            EmailMessage.related_type == "registration",
            EmailMessage.related_id == registration.id,
            EmailMessage.created_at >= since,
        )
        .limit(1)
    )
    # An email asked for but not written yet (the worker has not run) counts as sent.
    recent_request = db.session.scalar(
        select(OutboxEvent.id)
        .where(
            OutboxEvent.aggregate_type == "registration",
            OutboxEvent.aggregate_id == registration.id,
            OutboxEvent.type.in_(EMAIL_EVENTS),
            OutboxEvent.created_at >= since,
        )
        .limit(1)
    )
    if recent_email is not None or recent_request is not None or registration.status not in ("inscrit", "attente"):
        db.session.rollback()  # nothing to write: release the lock
        return
    record_change(
        entity_type="registration",
        entity_id=registration.id,
        action="resend",
        changes={},
        event_type="registration.resend_requested",
        payload=registration_payload(registration),
        user_id=user_id,
        parent=("event", registration.event_id),
    )
    db.session.commit()


def _by_email(event_id: int, email_key: str) -> Registration | None:
    return db.session.scalar(
        select(Registration).where(Registration.event_id == event_id, Registration.email_key == email_key)
    )


def cancel(registration: Registration, *, user_id: int | None = None, commit: bool = True) -> list[Registration]:
    """Cancel a registration (or leave the waiting list); a freed seat goes to the first person waiting.

    Returns the promoted registrations (in the same transaction).
    """
    event = registration.event
    lock_event(event)
    db.session.refresh(registration)
    if registration.status == "annule":
        raise ValidationFailed({"status": "Cette inscription est déjà annulée."})
    if registration.status in ATTENDANCE_STATUSES:
        raise ValidationFailed({"status": "La présence a déjà été enregistrée : l'inscription ne s'annule plus."})
    from_status = registration.status
    registration.status = "annule"
    registration.cancelled_at = utcnow()
    db.session.flush()
    record_registration_change(
        registration, "registration.cancelled", {"status": [from_status, "annule"]}, user_id, from_status=from_status
    )
    # The person is told, in this transaction (sent by the mail queue after the commit), whoever cancelled.
    emails.cancellation(registration, from_status=from_status, user_id=user_id)
    promoted = fill_free_seats(event, user_id=user_id) if from_status == "inscrit" else []
    if commit:
        db.session.commit()
    return promoted


def leave_waiting_list(registration: Registration, *, user_id: int | None = None) -> None:
    if registration.status != "attente":
        raise ValidationFailed({"status": "Cette inscription n'est pas sur la liste d'attente."})
    cancel(registration, user_id=user_id)


def change_registration_status(registration: Registration, status: str, *, user_id: int | None) -> Registration:
    """Staff or API: annulé, présent, absent or excusé."""
    if not (status or "").strip():  # the page's select starts on "— Choisir une action —": nothing chosen
        raise ValidationFailed({"status": "Choisissez une action dans la liste avant d'appliquer."})
    if status == "annule":
        cancel(registration, user_id=user_id)
    elif status in ATTENDANCE_STATUSES:
        mark_attendance(registration, status, user_id=user_id)
    else:
        raise ValidationFailed({"status": "Statut inconnu (annule, present, absent ou excuse)."})
    return registration
