"""Events through their life: created as a draft, published, changed, duplicated, closed or cancelled."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select, update

from crm.accounts.models import User
from crm.events.models import EVENT_STATUSES, Event, EventSeries, EventType, Registration, as_utc
from crm.events.payloads import event_payload
from crm.events.registration import emails
from crm.events.registration.waiting_list import fill_free_seats
from crm.platform.concurrency import StaleEdit, commit_changes
from crm.platform.events import record_change
from crm.platform.extensions import db
from crm.platform.formatting import PARIS
from crm.platform.models import utcnow
from crm.platform.validation import ValidationFailed, blank, parse_ids, parse_int, text
from crm.referential.models import Department, Offer, Programme

TRANSITIONS = {"brouillon": ("publie", "annule"), "publie": ("clos", "annule"), "clos": (), "annule": ()}
# A change to one of these matters to an attendee: the invitation's SEQUENCE goes up.
ATTENDEE_FIELDS = ("starts_at", "ends_at", "place_name", "address", "online_url", "status", "title")
ORGANISER_ROLES = ("organisateur", "admin")
MAX_CAPACITY = 100_000


def parse_local_datetime(value, errors: dict, field: str, *, required: bool = False) -> datetime | None:
    """``2026-05-12T09:30`` entered in Europe/Paris (or an ISO date-time with its offset) -> aware UTC."""
    value = blank(value)
    if value is None:
        if required:
            errors[field] = "La date et l'heure sont obligatoires."
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        if not isinstance(value, str) or len(value) > 40:
            errors[field] = "Date et heure invalides (format attendu : AAAA-MM-JJ HH:MM)."
            return None
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            errors[field] = "Date et heure invalides (format attendu : AAAA-MM-JJ HH:MM)."
            return None
    if not 2000 <= parsed.year <= 2100:
        errors[field] = "Date hors de la plage acceptée (2000 à 2100)."
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=PARIS)
    return parsed.astimezone(UTC)


def _url(value, errors: dict) -> str | None:
    value = text(value, errors, "online_url", max_length=500)
    if value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors["online_url"] = "Lien invalide (une adresse commençant par https://)."
    return value


def _event_type(value, errors: dict, current_id: int | None = None) -> EventType | None:
    """An active type (an event keeps its own type after the type is deactivated)."""
    type_id = parse_int(
        value, errors, "type_id", minimum=1, maximum=2**31 - 1, required=True, message="Type d'événement invalide."
    )
    event_type = db.session.get(EventType, type_id) if type_id else None
    if type_id and (event_type is None or not (event_type.active or event_type.id == current_id)):
        errors["type_id"] = "Type d'événement inconnu."
    elif "type_id" in errors:
        errors["type_id"] = "Choisissez le type d'événement."
    return event_type


def _organiser(value, errors: dict, default: User | None) -> User | None:
    user_id = parse_int(value, errors, "organiser_id", minimum=1, maximum=2**31 - 1, message="Organisateur invalide.")
    if user_id is None:
        return default
    user = db.session.get(User, user_id)
    if user is None or not user.active or user.role not in ORGANISER_ROLES:
        errors["organiser_id"] = "Organisateur inconnu (un organisateur ou un administrateur actif)."
        return None
    return user


def _references(model, ids: list[int], errors: dict, field: str, message: str) -> list:
    rows = list(db.session.scalars(select(model).where(model.id.in_(ids)))) if ids else []
    if len(rows) != len(ids):
        errors[field] = message
    return rows


def _values(data: dict, event: Event | None, user: User | None) -> dict:
    """Validated values of an event form or API body; a field absent from ``data`` keeps its value."""
    errors: dict[str, str] = {}

    def get(name):
        if name in data:
            return data[name]
        # Stored values are UTC (SQLite hands them back naive): never re-read as Paris time.
        return _comparable(getattr(event, name)) if event is not None else None

    values: dict = {
        "title": text(
            get("title"),
            errors,
            "title",
            max_length=200,
            one_line=True,
            required=True,
            message="Donnez un titre à l'événement.",
        ),
        "description": text(get("description"), errors, "description", max_length=20000),
        "starts_at": parse_local_datetime(get("starts_at"), errors, "starts_at", required=True),
        "ends_at": parse_local_datetime(get("ends_at"), errors, "ends_at", required=True),
        "place_name": text(get("place_name"), errors, "place_name", max_length=200, one_line=True),
        "address": text(get("address"), errors, "address", max_length=300),
        "online_url": _url(get("online_url"), errors),
        "capacity": parse_int(
            get("capacity"),
            errors,
            "capacity",
            minimum=1,
            maximum=MAX_CAPACITY,
            message="Capacité invalide (un nombre de places, ou vide pour illimité).",
        ),
        "registration_opens_at": parse_local_datetime(get("registration_opens_at"), errors, "registration_opens_at"),
        "registration_closes_at": parse_local_datetime(get("registration_closes_at"), errors, "registration_closes_at"),
    }
    if "capacity" in errors:
        errors["capacity"] = (
            f"Capacité invalide : un nombre de places entre 1 et {MAX_CAPACITY}, ou vide pour illimitée."
        )
    values["type_id"] = getattr(_event_type(get("type_id"), errors, event.type_id if event else None), "id", None)
    organiser = (
        _organiser(data.get("organiser_id"), errors, event.organiser if event else user)
        if "organiser_id" in data or event is None
        else event.organiser
    )
    values["organiser_id"] = organiser.id if organiser is not None else None
    department = blank(get("department_code"))
    if department is not None and (
        not isinstance(department, str) or len(department) > 3 or db.session.get(Department, department) is None
    ):
        errors["department_code"] = "Département inconnu."
    values["department_code"] = department
    series_id = parse_int(
        get("series_id"), errors, "series_id", minimum=1, maximum=2**31 - 1, message="Série invalide."
    )
    if series_id and db.session.get(EventSeries, series_id) is None:
        errors["series_id"] = "Série inconnue."
    values["series_id"] = series_id
    if not values["place_name"] and not values["online_url"] and "place_name" not in errors:
        errors["place_name"] = "Indiquez un lieu ou un lien de connexion."
    if values["place_name"] and not department and "department_code" not in errors:
        errors["department_code"] = "Indiquez le département du lieu."
    if values["starts_at"] and values["ends_at"] and values["ends_at"] <= values["starts_at"]:
        errors["ends_at"] = "La fin doit suivre le début."
    opens, closes = values["registration_opens_at"], values["registration_closes_at"]
    if opens and closes and closes <= opens:
        errors["registration_closes_at"] = "La clôture des inscriptions doit suivre leur ouverture."
    if closes and values["ends_at"] and closes > values["ends_at"]:
        errors["registration_closes_at"] = "Les inscriptions ne peuvent pas fermer après la fin de l'événement."
    programmes = offers = None
    if "programme_ids" in data or event is None:
        ids = parse_ids(data.get("programme_ids"), errors, "programme_ids")
        programmes = _references(Programme, ids, errors, "programme_ids", "Programme inconnu.")
    if "offer_ids" in data or event is None:
        ids = parse_ids(data.get("offer_ids"), errors, "offer_ids")
        offers = _references(Offer, ids, errors, "offer_ids", "Offre inconnue.")
    if errors:
        raise ValidationFailed(errors)
    return {"values": values, "programmes": programmes, "offers": offers}


def new_uid() -> str:
    return f"{uuid.uuid4().hex}@maillage"


def new_slug() -> str:
    return secrets.token_urlsafe(9)


def create_event(data: dict, *, user: User) -> Event:
    """A draft event; it is published separately."""
    parsed = _values(data, None, user)
    event = Event(
        **parsed["values"], status="brouillon", uid=new_uid(), slug=new_slug(), sequence=0, created_by_id=user.id
    )
    event.programmes = parsed["programmes"]
    event.offers = parsed["offers"]
    db.session.add(event)
    db.session.flush()
    db.session.refresh(event)
    record_change(
        entity_type="event",
        entity_id=event.id,
        action="create",
        changes={"title": [None, event.title], "status": [None, "brouillon"]},
        event_type="event.created",
        payload=event_payload(event),
        user_id=user.id,
    )
    db.session.commit()
    return event


def _comparable(value):
    return as_utc(value) if isinstance(value, datetime) else value


def update_event(
    event: Event, data: dict, *, user: User, expected_version: int | None = None, commit: bool = True
) -> Event:
    """Edit an event; a change of date, place or link raises its SEQUENCE and tells the registrants."""
    if expected_version is not None and expected_version != event.version:
        raise StaleEdit("Cet événement a été modifié entre-temps. Rechargez la page.")
    if event.status in ("annule", "clos"):
        raise ValidationFailed({"status": "Un événement annulé ou clos ne se modifie plus."})
    parsed = _values(data, event, user)
    changes = {
        k: [getattr(event, k), v]
        for k, v in parsed["values"].items()
        if _comparable(getattr(event, k)) != _comparable(v)
    }
    for name in ("programmes", "offers"):
        if parsed[name] is not None and {r.id for r in parsed[name]} != {r.id for r in getattr(event, name)}:
            changes[name] = [[r.id for r in getattr(event, name)], [r.id for r in parsed[name]]]
            setattr(event, name, parsed[name])
    if not changes:
        return event
    for key, value in parsed["values"].items():
        setattr(event, key, value)
    matters = any(k in ATTENDEE_FIELDS for k in changes)
    if matters:
        event.sequence += 1
    if "ends_at" in changes:  # the personal links expire at the end of the event
        db.session.execute(
            update(Registration)
            .where(Registration.event_id == event.id, Registration.cancel_token_hash.is_not(None))
            .values(token_expires_at=parsed["values"]["ends_at"])
        )
    record_change(
        entity_type="event",
        entity_id=event.id,
        action="update",
        changes=changes,
        event_type="event.changed",
        payload={**event_payload(event), "fields": sorted(changes)},
        user_id=user.id,
    )
    if matters and event.status == "publie":
        emails.event_changed(event, user_id=user.id)
    if "capacity" in changes:
        fill_free_seats(event, user_id=user.id)
    if commit:
        commit_changes()
    return event


def transition_error(event: Event, to_status: str, now: datetime | None = None) -> str | None:
    if to_status not in EVENT_STATUSES:
        return "Statut inconnu."
    if to_status == event.status:
        return f"L'événement est déjà au statut « {event.status_label} »."
    if to_status not in TRANSITIONS[event.status]:
        return f"Passage impossible du statut « {event.status_label} » au statut « {EVENT_STATUSES[to_status]} »."
    if to_status == "clos" and (now or utcnow()) < as_utc(event.starts_at):
        return "Un événement ne peut être clos qu'une fois commencé."
    return None


def change_status(
    event: Event, to_status: str, *, user: User, expected_version: int | None = None, commit: bool = True
) -> Event:
    """Publish, close or cancel; cancelling tells every registrant (METHOD:CANCEL)."""
    if expected_version is not None and expected_version != event.version:
        raise StaleEdit("Cet événement a été modifié entre-temps. Rechargez la page.")
    message = transition_error(event, to_status)
    if message:
        raise ValidationFailed({"status": message})
    from_status = event.status
    event.status = to_status
    if from_status == "publie" or to_status == "annule":
        event.sequence += 1
    event_type = {"publie": "event.published", "clos": "event.ended", "annule": "event.cancelled"}[to_status]
    record_change(
        entity_type="event",
        entity_id=event.id,
        action="update",
        changes={"status": [from_status, to_status]},
        event_type=event_type,
        payload={**event_payload(event), "from_status": from_status},
        user_id=user.id,
    )
    if to_status == "annule":
        emails.event_cancelled(event, user_id=user.id)
    if commit:
        commit_changes()
    return event


def publish_event(event: Event, *, user: User) -> Event:
    return change_status(event, "publie", user=user)


def close_event(event: Event, *, user: User) -> Event:
    return change_status(event, "clos", user=user)


def cancel_event(event: Event, *, user: User) -> Event:
    return change_status(event, "annule", user=user)


def duplicate_event(event: Event, data: dict, *, user: User) -> Event:
    """Copy an event as a new draft, optionally on another day and in another department.

    A TOP e-santé tour is the same day in several departments: the copies and the original
    are put in one series (created from the original's title when it has none).
    """
    errors: dict[str, str] = {}
    starts_at = parse_local_datetime(data.get("starts_at"), errors, "starts_at")
    department = blank(data.get("department_code"))
    if department is not None and (
        not isinstance(department, str) or len(department) > 3 or db.session.get(Department, department) is None
    ):
        errors["department_code"] = "Département inconnu."
    if errors:
        raise ValidationFailed(errors)
    shift = (starts_at - as_utc(event.starts_at)) if starts_at else timedelta(0)
    if event.series_id is None:
        series = EventSeries(title=event.title, description=event.description)
        db.session.add(series)
        db.session.flush()
        event.series_id = series.id
    copy = Event(
        type_id=event.type_id,
        series_id=event.series_id,
        title=blank(data.get("title")) or event.title,
        description=event.description,
        starts_at=as_utc(event.starts_at) + shift,
        ends_at=as_utc(event.ends_at) + shift,
        place_name=blank(data.get("place_name")) or event.place_name,
        address=blank(data.get("address")) if department else event.address,
        department_code=department or event.department_code,
        online_url=event.online_url,
        capacity=event.capacity,
        organiser_id=event.organiser_id,
        registration_opens_at=None,
        registration_closes_at=None,
        status="brouillon",
        uid=new_uid(),
        slug=new_slug(),
        sequence=0,
        created_by_id=user.id,
    )
    errors = {}
    text(copy.title, errors, "title", max_length=200, one_line=True)
    text(copy.place_name, errors, "place_name", max_length=200, one_line=True)
    text(copy.address, errors, "address", max_length=300)
    if errors:
        raise ValidationFailed(errors)
    copy.programmes = list(event.programmes)
    copy.offers = list(event.offers)
    db.session.add(copy)
    db.session.flush()
    db.session.refresh(copy)
    record_change(
        entity_type="event",
        entity_id=copy.id,
        action="create",
        changes={"title": [None, copy.title], "status": [None, "brouillon"], "duplicated_from": [None, event.id]},
        event_type="event.created",
        payload={**event_payload(copy), "duplicated_from": event.id},
        user_id=user.id,
    )
    db.session.commit()
    return copy
