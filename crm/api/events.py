"""Events (with their status transitions), their registrations, and their .ics."""

from __future__ import annotations

from flask import Response, jsonify, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm.accounts import permissions
from crm.api.helpers import created, department_code
from crm.api.registry import PAGE_PARAMS, ApiError, Param, id_param, json_body, operation, page_links, query_args
from crm.api.routes import api_user, bp
from crm.api.serializers import iso, url
from crm.events import queries, services
from crm.events.ics import event_calendar
from crm.events.models import EVENT_STATUSES, REGISTRATION_STATUSES, Event, Registration
from crm.events.registration import registrations
from crm.events.registration.capacity import registration_counts
from crm.platform.extensions import db
from crm.platform.validation import ValidationFailed

TAG_EVENTS, TAG_REGISTRATIONS = "Événements", "Inscriptions"
EVENT_PARAMS = [
    Param("period", {"type": "string", "enum": ["a_venir", "passes"]}, "À venir (pas encore finis) ou passés."),
    id_param("type", "Type d'événement."),
    Param("department", {"type": "string", "maxLength": 3}, "Département du lieu."),
    Param("status", {"type": "string", "enum": list(EVENT_STATUSES)}, "Statut."),
    id_param("series", "Série (un tour TOP e-santé)."),
    *PAGE_PARAMS,
]
REGISTRATION_PARAMS = [
    Param("status", {"type": "string", "enum": list(REGISTRATION_STATUSES)}, "Statut de l'inscription."),
    *PAGE_PARAMS,
]


def event_json(event: Event, counts: dict | None = None) -> dict:
    return {
        "id": event.id,
        "url": url("events", event.id),
        "type_id": event.type_id,
        "type_code": event.type.code,
        "series_id": event.series_id,
        "title": event.title,
        "description": event.description,
        "starts_at": iso(event.starts_at),
        "ends_at": iso(event.ends_at),
        "place_name": event.place_name,
        "address": event.address,
        "department_code": event.department_code,
        "online_url": event.online_url,
        "capacity": event.capacity,
        "programme_ids": [p.id for p in event.programmes],
        "offer_ids": [o.id for o in event.offers],
        "organiser_id": event.organiser_id,
        "registration_opens_at": iso(event.registration_opens_at),
        "registration_closes_at": iso(event.registration_closes_at),
        "status": event.status,
        "uid": event.uid,
        "sequence": event.sequence,
        "public_url": url_for("public_events.show", slug=event.slug, _external=True),
        "ics_url": url("events", event.id) + ".ics",
        "counts": counts if counts is not None else registration_counts(event.id),
        "version": event.version,
        "created_at": iso(event.created_at),
        "updated_at": iso(event.updated_at),
    }


def registration_json(registration: Registration) -> dict:
    return {
        "id": registration.id,
        "event_id": registration.event_id,
        "first_name": registration.first_name,
        "last_name": registration.last_name,
        "email": registration.email,
        "function": registration.function,
        "structure_id": registration.structure_id,
        "structure_name": registration.structure_name,
        "department_code": registration.department_code,
        "contact_id": registration.contact_id,
        "consent_contact": registration.consent_contact,
        "status": registration.status,
        "source": registration.source,
        "registered_at": iso(registration.registered_at),
        "cancelled_at": iso(registration.cancelled_at),
        "promoted_at": iso(registration.promoted_at),
        "attended_at": iso(registration.attended_at),
        "version": registration.version,
    }


def _event_or_404(event_id: int) -> Event:
    event = db.session.get(Event, event_id)
    if event is None:
        raise ApiError(404, "Événement introuvable.")
    return event


def _require_organiser(action: str) -> None:
    if not permissions.can_manage_events(api_user()):
        raise ApiError(403, f"Seuls les organisateurs d'événements et les administrateurs peuvent {action}.")


def _counts_of(page_items) -> dict[int, dict]:
    raw = queries.counts_for([e.id for e in page_items])
    out = {}
    for event_id, by_status in raw.items():
        counts = {status: by_status.get(status, 0) for status in REGISTRATION_STATUSES}
        counts["places_prises"] = counts["inscrit"] + counts["present"]
        out[event_id] = counts
    return out


@operation(
    bp,
    "/events",
    "GET",
    summary="Lister les événements",
    tag=TAG_EVENTS,
    ok=(200, "EventPage"),
    params=EVENT_PARAMS,
    description="Par date de début (les passés : les plus récents d'abord).",
)
def list_events():
    args = query_args(EVENT_PARAMS)
    filters = queries.EventFilters(
        period=args["period"],
        type_id=args["type"],
        department=department_code(args["department"]),
        status=args["status"],
        series_id=args["series"],
    )
    page = queries.list_events(filters, page=args["page"], per_page=args["per_page"])
    # The page's programmes and offers in two statements, not two per event (92 statements for 44 events).
    db.session.scalars(
        select(Event)
        .where(Event.id.in_([e.id for e in page.items]))
        .options(selectinload(Event.programmes), selectinload(Event.offers))
    ).all()
    counts = _counts_of(page.items)
    return jsonify(page_links(page, lambda e: event_json(e, counts[e.id])))


@operation(
    bp, "/events/<int:event_id>", "GET", summary="Lire un événement et ses compteurs", tag=TAG_EVENTS, ok=(200, "Event")
)
def get_event(event_id: int):
    return jsonify(event_json(_event_or_404(event_id)))


@operation(
    bp,
    "/events",
    "POST",
    summary="Créer un événement (brouillon)",
    tag=TAG_EVENTS,
    ok=(201, "Event"),
    body="EventInput",
    errors=(403,),
)
def create_event():
    _require_organiser("créer un événement")
    event = services.create_event(json_body("EventInput"), user=api_user())
    return created(event_json(event))


@operation(
    bp,
    "/events/<int:event_id>",
    "PATCH",
    summary="Modifier un événement ou changer son statut",
    tag=TAG_EVENTS,
    ok=(200, "Event"),
    body="EventPatch",
    errors=(403, 409),
    description="Les champs sont modifiés puis « status » est une transition validée (brouillon -> publie "
    "-> clos, ou annule : les inscrits reçoivent l'annulation METHOD:CANCEL). Une transition "
    "refusée, un événement clos ou annulé, une version périmée : 409.",
)
def update_event(event_id: int):
    _require_organiser("modifier un événement")
    user = api_user()
    event = _event_or_404(event_id)
    body = json_body("EventPatch")
    version = body.pop("version", None)
    status = body.pop("status", None)
    if version is not None and version != event.version:
        raise ApiError(409, "Cet événement a été modifié entre-temps. Relisez-le avant de le modifier.")
    try:
        if body:
            services.update_event(event, body, user=user, commit=False)
        if status is not None and status != event.status:
            services.change_status(event, status, user=user, commit=False)
    except ValidationFailed as error:
        if "status" in error.errors:
            raise ApiError(409, error.errors["status"], error.errors) from error
        raise
    services.commit_changes()
    return jsonify(event_json(event))


@operation(
    bp,
    "/events/<int:event_id>.ics",
    "GET",
    summary="L'événement au format iCalendar",
    tag=TAG_EVENTS,
    ok=(200, None),
    media_type="text/calendar",
    description="RFC 5545 : UID stable, SEQUENCE, fuseau Europe/Paris (VTIMEZONE).",
)
def event_ics(event_id: int):
    event = _event_or_404(event_id)
    return Response(
        event_calendar(event, method="PUBLISH", private=True),
        mimetype="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="evenement-{event.id}.ics"'},
    )


# --- registrations ---------------------------------------------------------------------------------


@operation(
    bp,
    "/events/<int:event_id>/registrations",
    "GET",
    summary="Lister les inscriptions d'un événement",
    tag=TAG_REGISTRATIONS,
    ok=(200, "RegistrationPage"),
    params=REGISTRATION_PARAMS,
    description="Dans l'ordre d'inscription (celui de la liste d'attente).",
)
def list_registrations(event_id: int):
    event = _event_or_404(event_id)
    args = query_args(REGISTRATION_PARAMS)
    page = queries.registrations_page(event.id, status=args["status"], page=args["page"], per_page=args["per_page"])
    return jsonify(page_links(page, registration_json))


@operation(
    bp,
    "/events/<int:event_id>/registrations",
    "POST",
    summary="Inscrire une personne",
    tag=TAG_REGISTRATIONS,
    ok=(201, "RegistrationCreated"),
    also={200: "RegistrationCreated"},
    body="RegistrationInput",
    errors=(403, 409),
    description="Mêmes règles que la page publique : événement publié, inscriptions ouvertes (409 sinon), "
    "liste d'attente quand il est complet (outcome = attente). Une adresse déjà inscrite "
    "répond 200 avec l'inscription existante (outcome = existant).",
)
def create_registration(event_id: int):
    _require_organiser("inscrire quelqu'un")
    event = _event_or_404(event_id)
    body = json_body("RegistrationInput")
    try:
        registration, outcome = registrations.register(event, body, source="api", user_id=api_user().id)
    except registrations.RegistrationClosed as error:
        raise ApiError(409, str(error)) from error
    payload = {**registration_json(registration), "outcome": outcome}
    return jsonify(payload), 200 if outcome == "existant" else 201


@operation(
    bp,
    "/events/<int:event_id>/registrations/<int:registration_id>",
    "PATCH",
    summary="Annuler une inscription ou noter la présence",
    tag=TAG_REGISTRATIONS,
    ok=(200, "Registration"),
    body="RegistrationPatch",
    errors=(403,),
    description="annule libère la place et promeut la première personne en attente (dans la même "
    "transaction) ; present, absent, excuse sur un événement publié ou clos.",
)
def update_registration(event_id: int, registration_id: int):
    _require_organiser("modifier une inscription")
    registration = db.session.get(Registration, registration_id)
    if registration is None or registration.event_id != event_id:
        raise ApiError(404, "Inscription introuvable.")
    body = json_body("RegistrationPatch")
    if "status" not in body:
        raise ApiError(422, "Données invalides.", {"status": "Indiquez le statut visé."})
    registrations.change_registration_status(registration, body["status"], user_id=api_user().id)
    return jsonify(registration_json(registration))
