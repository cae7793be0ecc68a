"""Registrations: capacity under concurrency, the waiting list, personal links, attendance."""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from crm.core.dates import local_date, local_today
from crm.core.events import record_change
from crm.core.locking import REGISTRATION_ADDRESS, advisory_lock, lock_row
from crm.core.models import OutboxEvent, utcnow
from crm.core.text import fold
from crm.core.validation import ValidationFailed, blank, email_error, parse_int, text
from crm.events import notifications
from crm.events.models import (
    ATTENDANCE_STATUSES, REGISTRATION_SOURCES, SEAT_STATUSES, Event, Registration,
)
from crm.events.services import as_utc, event_payload
from crm.extensions import db
from crm.mail import personal_links
from crm.mail.models import EmailMessage
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


class TooManyRegistrations(ValueError):
    """The client address stored its quota of public registrations in the window."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


EVENT_PAYLOAD_KEYS = ("event_id", "event_type", "department", "programme_ids", "offer_ids", "series_id", "starts_at",
                      "ends_at")


def _event_part(event: Event) -> dict:
    return {k: v for k, v in event_payload(event).items() if k in EVENT_PAYLOAD_KEYS}


def _structure_part(structure: Structure | None, department_code: str | None) -> dict:
    return {"structure_department": structure.department_code if structure else department_code,
            "structure_sector": structure.sector.code if structure and structure.sector else None}


def registration_payload(registration: Registration, event: Event | None = None, *,
                         parts: dict | None = None) -> dict:
    """The event's dimensions and the structure's, for the indicators (participation counts structures).

    ``parts``: the event's and structure's keys read beforehand (:func:`register` reads them before
    taking the event's lock).
    """
    if parts is None:
        parts = {**_event_part(event or registration.event),
                 **_structure_part(registration.structure, registration.department_code)}
    return {**parts, "registration_id": registration.id, "status": registration.status,
            "source": registration.source, "structure_id": registration.structure_id,
            "contact_id": registration.contact_id, "registered_at": registration.registered_at,
            "cancelled_at": registration.cancelled_at, "promoted_at": registration.promoted_at,
            "attended_at": registration.attended_at}


def _record(registration: Registration, event_type: str, changes: dict, user_id: int | None, *,
            parts: dict | None = None, **extra) -> None:
    record_change(entity_type="registration", entity_id=registration.id, action="update", changes=changes,
                  event_type=event_type, payload={**registration_payload(registration, parts=parts), **extra},
                  user_id=user_id, parent=("event", registration.event_id))


def _person(data: dict, source: str) -> dict:
    """Validated person fields, with a French message per refused field."""
    errors: dict[str, str] = {}
    values = {
        "first_name": text(data.get("first_name"), errors, "first_name", max_length=80, required=True,
                           message="Indiquez votre prénom.", one_line=True),
        "last_name": text(data.get("last_name"), errors, "last_name", max_length=80, required=True,
                          message="Indiquez votre nom.", one_line=True),
        "email": text(data.get("email"), errors, "email", max_length=254, required=True,
                      message="Indiquez votre adresse email professionnelle."),
        "function": text(data.get("function"), errors, "function", max_length=120, one_line=True),
        "structure_name": text(data.get("structure_name"), errors, "structure_name", max_length=255, one_line=True),
    }
    if values["email"] and "email" not in errors and (error := email_error(values["email"])):
        errors["email"] = error
    structure_id = parse_int(data.get("structure_id"), errors, "structure_id", minimum=1, maximum=2**31 - 1,
                             message="Structure invalide.")
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


def _seats_taken_query(event_id: int):
    return select(db.func.count()).where(Registration.event_id == event_id, Registration.status.in_(SEAT_STATUSES))


def seats_taken(event_id: int) -> int:
    return db.session.scalar(_seats_taken_query(event_id)) or 0


def _lock(event: Event) -> None:
    """Serialise the registrations of one event: a row lock on PostgreSQL.

    SQLite has no row locks: a no-op write takes its database-wide write lock before the seats are counted.
    """
    lock_row(Event, event.id)



def _within_address_quota(event: Event, client_ip: str) -> None:
    """Raise TooManyRegistrations when ``client_ip`` stored its quota of registrations in the window.

    Counted under a lock per address held until the commit: without it, requests sent at once all
    counted the same rows before any of them inserted (40 at once stored 22 for a limit of 20).
    """
    config = current_app.config
    advisory_lock(REGISTRATION_ADDRESS, client_ip)  # SQLite: its database-wide write lock serialises every address
    since = utcnow() - timedelta(minutes=config["EVENT_REGISTRATION_WINDOW_MINUTES"])
    count = db.session.scalar(select(db.func.count()).where(Registration.client_ip == client_ip,
                                                            Registration.registered_at >= since))
    if count >= config["EVENT_REGISTRATIONS_PER_IP"]:
        db.session.rollback()  # release the lock
        raise TooManyRegistrations("Trop d'inscriptions ont été envoyées depuis votre connexion. "
                                   "Réessayez dans quelques minutes.")


def _seats_and_existing(event_id: int, email_key: str) -> tuple[int, int | None]:
    """Seats taken and the id of this email's registration, in one statement (run under the event's lock,
    so that its snapshot sees every registration committed before)."""
    existing = select(Registration.id).where(Registration.event_id == event_id, Registration.email_key == email_key)
    row = db.session.execute(select(_seats_taken_query(event_id).scalar_subquery(), existing.scalar_subquery())).one()
    return row[0] or 0, row[1]


def register(event: Event, data: dict, *, source: str, user_id: int | None = None,
             client_ip: str | None = None) -> tuple[Registration, str]:
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
    parts = {**_event_part(event), **_structure_part(structure, values["department_code"])}
    if source == "public" and client_ip:
        _within_address_quota(event, client_ip)
    _lock(event)
    taken, existing_id = _seats_and_existing(event.id, values["email_key"])
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
        registration = Registration(event_id=event.id, status=status, source=source, registered_at=now,
                                    client_ip=client_ip, created_by_id=user_id, **values)
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
    _record(registration, "registration.created" if status == "inscrit" else "registration.waitlisted",
            {"status": [None, status]}, user_id, parts=parts)
    db.session.commit()
    return registration, status


# The events after which the registration_emails rule emails the person (their personal link).
EMAIL_EVENTS = ("registration.created", "registration.waitlisted", "registration.promoted",
                "registration.resend_requested")


def _ask_again(registration: Registration, user_id: int | None) -> None:
    """Someone registers again: their email (with a new personal link) is asked for again, at most every
    ``RESEND_MINUTES`` so that the form cannot flood an inbox (nor the outbox)."""
    since = utcnow() - timedelta(minutes=RESEND_MINUTES)
    recent_email = db.session.scalar(select(EmailMessage.id).where(
        EmailMessage.related_type == "registration", EmailMessage.related_id == registration.id,
        EmailMessage.created_at >= since).limit(1))
    # An email asked for but not written yet (the worker has not run) counts as sent.
    recent_request = db.session.scalar(select(OutboxEvent.id).where(
        OutboxEvent.aggregate_type == "registration", OutboxEvent.aggregate_id == registration.id,
        OutboxEvent.type.in_(EMAIL_EVENTS), OutboxEvent.created_at >= since).limit(1))
    if recent_email is not None or recent_request is not None or registration.status not in ("inscrit", "attente"):
        db.session.rollback()  # nothing to write: release the lock
        return
    record_change(entity_type="registration", entity_id=registration.id, action="resend", changes={},
                  event_type="registration.resend_requested", payload=registration_payload(registration),
                  user_id=user_id, parent=("event", registration.event_id))
    db.session.commit()


PERSONAL_LINK_EMAILS = {"confirmation": notifications.confirmation, "attente": notifications.waiting_list,
                        "promotion": notifications.promotion}


def send_personal_link(registration: Registration, email: str, *, dedupe_key: str,
                       user_id: int | None = None, again: bool = False) -> EmailMessage | None:
    """Queue the registration's email of kind ``email`` ("confirmation", "attente" or "promotion") with a
    new personal link, in the caller's transaction; None if ``dedupe_key`` was used already.
    ``again``: the person registered again (the email says they already were).

    The new link replaces the previous one (only its hash is stored, and the token is only in the
    email as sent: see :mod:`crm.mail.personal_links`); the hash is written without raising the
    registration's version, so that staff editing the registration meanwhile are not told it changed
    under them.
    """
    event = registration.event
    extra = {"again": True} if again else {}
    message = PERSONAL_LINK_EMAILS[email](registration, user_id=user_id, dedupe_key=dedupe_key, **extra)
    if message is None:
        return None
    db.session.execute(update(Registration).where(Registration.id == registration.id)
                       .values(cancel_token_hash=hash_token(personal_links.token_for(message)),
                               token_expires_at=as_utc(event.ends_at))
                       .execution_options(synchronize_session="fetch"))
    return message


def _by_email(event_id: int, email_key: str) -> Registration | None:
    return db.session.scalar(select(Registration).where(Registration.event_id == event_id,
                                                        Registration.email_key == email_key))


def fill_free_seats(event: Event, *, user_id: int | None = None) -> list[Registration]:
    """Give the free seats to the waiting list, first come first served (the caller commits); the
    ``registration.promoted`` event has the ``registration_emails`` rule email each person."""
    promoted = []
    if event.status not in ("publie", "brouillon"):
        return promoted
    free = None if event.capacity is None else event.capacity - seats_taken(event.id)
    query = (select(Registration).where(Registration.event_id == event.id, Registration.status == "attente")
             .order_by(Registration.registered_at, Registration.id))
    if free is not None:
        if free <= 0:
            return promoted
        query = query.limit(free)
    now = utcnow()
    for registration in db.session.scalars(query).all():
        registration.status = "inscrit"
        registration.promoted_at = now
        db.session.flush()
        _record(registration, "registration.promoted", {"status": ["attente", "inscrit"]}, user_id)
        promoted.append(registration)
    return promoted


def cancel(registration: Registration, *, user_id: int | None = None, commit: bool = True) -> list[Registration]:
    """Cancel a registration (or leave the waiting list); a freed seat goes to the first person waiting.

    Returns the promoted registrations (in the same transaction).
    """
    event = registration.event
    _lock(event)
    db.session.refresh(registration)
    if registration.status == "annule":
        raise ValidationFailed({"status": "Cette inscription est déjà annulée."})
    if registration.status in ATTENDANCE_STATUSES:
        raise ValidationFailed({"status": "La présence a déjà été enregistrée : l'inscription ne s'annule plus."})
    from_status = registration.status
    registration.status = "annule"
    registration.cancelled_at = utcnow()
    db.session.flush()
    _record(registration, "registration.cancelled", {"status": [from_status, "annule"]}, user_id,
            from_status=from_status)
    promoted = fill_free_seats(event, user_id=user_id) if from_status == "inscrit" else []
    if commit:
        db.session.commit()
    return promoted


def leave_waiting_list(registration: Registration, *, user_id: int | None = None) -> None:
    if registration.status != "attente":
        raise ValidationFailed({"status": "Cette inscription n'est pas sur la liste d'attente."})
    cancel(registration, user_id=user_id)


def before_the_day_error(event: Event, today=None) -> str | None:
    """Who came and who did not is known from the event's day (in Paris) on: before it, a check-in would
    count as a participation on a day that has not come."""
    day = local_date(event.starts_at)
    if (today or local_today()) < day:
        return f"La présence se note à partir du jour de l'événement (le {day:%d/%m/%Y})."
    return None


def mark_attendance(registration: Registration, status: str, *, user_id: int | None = None,
                    commit: bool = True) -> Registration:
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
    _record(registration, "attendance.recorded", {"status": [from_status, status]}, user_id,
            from_status=from_status)
    if commit:
        db.session.commit()
    return registration


def finish_check_in(event: Event, *, user_id: int | None = None) -> int:
    """Everyone still only "inscrit" is absent (the excused stay excused); returns how many."""
    if event.status not in ("publie", "clos"):
        raise ValidationFailed({"status": "L'accueil se clôture sur un événement publié ou clos."})
    if message := before_the_day_error(event):
        raise ValidationFailed({"status": message})
    _lock(event)
    remaining = db.session.scalars(select(Registration).where(
        Registration.event_id == event.id, Registration.status == "inscrit")).all()
    for registration in remaining:
        mark_attendance(registration, "absent", user_id=user_id, commit=False)
    db.session.commit()
    return len(remaining)


def by_token(token: str | None) -> tuple[Registration | None, str]:
    """The registration of a personal link and its state: "valide", "annulee", "expiree" or "inconnue"."""
    if not token or not isinstance(token, str) or len(token) > 100:
        return None, "inconnue"
    digest = hash_token(token)
    registration = db.session.scalar(select(Registration).where(Registration.cancel_token_hash == digest))
    if registration is None or not hmac.compare_digest(registration.cancel_token_hash, digest):
        return None, "inconnue"
    if registration.status == "annule":
        return registration, "annulee"
    if registration.token_expires_at and utcnow() >= as_utc(registration.token_expires_at):
        return registration, "expiree"
    if registration.event.status in ("annule", "clos") or registration.status in ATTENDANCE_STATUSES:
        return registration, "expiree"
    return registration, "valide"


def change_registration_status(registration: Registration, status: str, *, user_id: int | None) -> Registration:
    """Staff or API: annulé, présent, absent or excusé."""
    if status == "annule":
        cancel(registration, user_id=user_id)
    elif status in ATTENDANCE_STATUSES:
        mark_attendance(registration, status, user_id=user_id)
    else:
        raise ValidationFailed({"status": "Statut inconnu (annule, present, absent ou excuse)."})
    return registration
