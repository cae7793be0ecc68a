"""The emails of registrations and events, queued in the transaction of their cause (sent later by a job).

A personal link is written with its token masked (:mod:`crm.mail.personal_links`): the token is only
in the message sent.

The emails with a personal link (confirmation, waiting list, promotion) are queued by the
``registration_emails`` workflow rule through :func:`crm.events.registration.links.send_personal_link`, the
reminder by the ``event_reminder`` rule; an event's cancellation and change, and a registration's
cancellation, are told to the people concerned in the transaction of the change.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, has_request_context, url_for
from sqlalchemy import select

from crm.events.ics import event_calendar, location
from crm.events.models import ANONYMOUS_DOMAIN, Event, Registration, as_utc
from crm.mail.models import EmailMessage
from crm.mail.personal_links import PLACEHOLDER
from crm.mail.services import queue_email
from crm.platform.extensions import db
from crm.platform.formatting import format_datetime
from crm.platform.models import utcnow


def external_url(endpoint: str, **values) -> str:
    """An absolute link: from the request when there is one, else from ``CRM_BASE_URL``."""
    if has_request_context():
        return url_for(endpoint, _external=True, **values)
    base = urlsplit(current_app.config["CRM_BASE_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "https")
    return adapter.build(endpoint, values, force_external=True)


def event_details(event: Event, *, join_link: bool = False) -> str:
    """Title, dates and place; an online event's join link only with ``join_link``: it goes to people
    holding a seat (confirmation, promotion, reminder, change), never to the waiting list."""
    lines = [
        f"« {event.title} »",
        f"Du {format_datetime(event.starts_at)} au {format_datetime(event.ends_at)} (heure de Paris)",
    ]
    place = location(event)
    if place:
        lines.append(f"Lieu : {place}")
    if join_link and event.online_url:
        lines.append(f"Lien de connexion : {event.online_url}")
    return "\n".join(lines)


def _ics(event: Event, method: str, registration: Registration) -> dict:
    return {
        "filename": "invitation.ics",
        "content_type": f"text/calendar; charset=utf-8; method={method}",
        "content": event_calendar(event, method=method, attendee=registration).decode("utf-8"),
    }


def _send(
    registration: Registration,
    kind: str,
    subject: str,
    body: str,
    *,
    attachments=(),
    user_id: int | None = None,
    dedupe_key: str | None = None,
) -> EmailMessage | None:
    return queue_email(
        kind=kind,
        to_address=registration.email,
        to_name=registration.display_name,
        subject=subject,
        body_text=body,
        attachments=attachments,
        related=("registration", registration.id),
        dedupe_key=dedupe_key,
        created_by_id=user_id,
    )


def signature() -> str:
    return f"\n\nL'équipe {current_app.config.get('CRM_ORGANISATION_NAME', '')}".rstrip()


# Opens the email of someone who registered again: the public page told them nothing of their state.
AGAIN = "Nous avons reçu une nouvelle demande d'inscription avec votre adresse : vous étiez déjà inscrit(e).\n\n"


def confirmation(
    registration: Registration, *, user_id: int | None = None, dedupe_key: str | None = None, again: bool = False
) -> EmailMessage | None:
    event = registration.event
    link = external_url("public_events.cancel", token=PLACEHOLDER)
    body = (
        f"Bonjour {registration.first_name},\n\n{AGAIN if again else ''}Votre inscription est confirmée :\n"
        f"{event_details(event, join_link=True)}\n\n"
        "L'invitation est jointe : ouvrez-la pour l'ajouter à votre agenda.\n\n"
        f"Si vous ne pouvez plus venir, libérez votre place par ce lien personnel :\n{link}"
        f"{signature()}"
    )
    return _send(
        registration,
        "registration.confirmation",
        f"Inscription confirmée : {event.title}",
        body,
        attachments=[_ics(event, "REQUEST", registration)],
        user_id=user_id,
        dedupe_key=dedupe_key,
    )


def waiting_list(
    registration: Registration, *, user_id: int | None = None, dedupe_key: str | None = None, again: bool = False
) -> EmailMessage | None:
    event = registration.event
    link = external_url("public_events.cancel", token=PLACEHOLDER)
    body = (
        f"Bonjour {registration.first_name},\n\n{AGAIN if again else ''}"
        "L'événement est complet : vous êtes sur la liste d'attente de\n"
        f"{event_details(event)}\n\nSi une place se libère, elle vous sera attribuée dans l'ordre d'inscription "
        "et vous recevrez un email de confirmation avec l'invitation.\n\n"
        f"Pour quitter la liste d'attente :\n{link}{signature()}"
    )
    return _send(
        registration,
        "registration.waiting_list",
        f"Liste d'attente : {event.title}",
        body,
        user_id=user_id,
        dedupe_key=dedupe_key,
    )


def promotion(
    registration: Registration, *, user_id: int | None = None, dedupe_key: str | None = None
) -> EmailMessage | None:
    event = registration.event
    link = external_url("public_events.cancel", token=PLACEHOLDER)
    body = (
        f"Bonjour {registration.first_name},\n\nUne place s'est libérée : vous êtes maintenant inscrit(e) à\n"
        f"{event_details(event, join_link=True)}\n\nL'invitation est jointe.\n\n"
        f"Si vous ne pouvez pas venir, rendez la place pour la personne suivante :\n{link}{signature()}"
    )
    return _send(
        registration,
        "registration.promotion",
        f"Une place s'est libérée : {event.title}",
        body,
        attachments=[_ics(event, "REQUEST", registration)],
        user_id=user_id,
        dedupe_key=dedupe_key,
    )


def reminder(registration: Registration, *, dedupe_key: str) -> EmailMessage | None:
    """Before the event. No new personal link: the one of the confirmation stays the only valid one."""
    event = registration.event
    body = (
        f"Bonjour {registration.first_name},\n\nPetit rappel : vous êtes inscrit(e) à\n"
        f"{event_details(event, join_link=True)}\n\n"
        "Si vous ne pouvez plus venir, libérez votre place avec le lien personnel de votre email de "
        "confirmation : une personne en liste d'attente pourra en profiter."
        f"{signature()}"
    )
    return _send(registration, "registration.reminder", f"Rappel : {event.title}", body, dedupe_key=dedupe_key)


def _told_since(registration: Registration, since) -> bool:
    """Whether an email about this registration was written since ``since`` (its latest registration)."""
    return (
        db.session.scalar(
            select(EmailMessage.id)
            .where(
                EmailMessage.related_type == "registration",
                EmailMessage.related_id == registration.id,
                EmailMessage.created_at >= since,
            )
            .limit(1)
        )
        is not None
    )


def cancellation(registration: Registration, *, from_status: str, user_id: int | None = None) -> EmailMessage | None:
    """The cancellation of a registration (or leaving the waiting list), by the person through their link or
    by the team (``user_id``), confirmed to them; who held a seat gets METHOD:CANCEL, which takes the
    event out of their agenda. Once per cancellation (``dedupe_key``): a person who registers again and
    cancels again is told again. Nothing when no email told them of this registration yet (cancelled
    before the ``registration_emails`` rule ran: it then writes none either)."""
    if registration.email_key.endswith("@" + ANONYMOUS_DOMAIN) or registration.cancelled_at is None:
        return None
    if not _told_since(registration, registration.registered_at):
        # Cancelled before their confirmation was written (the rule then sends none): nothing to take back.
        return None
    event = registration.event
    waiting = from_status == "attente"
    lines = [f"Bonjour {registration.first_name},", ""]
    if waiting:
        lines.append("Vous avez quitté la liste d'attente de")
    else:
        lines.append("Votre inscription est annulée pour")
    lines += [event_details(event), ""]
    if user_id is not None:
        lines.append(
            "Cette annulation a été faite par l'équipe organisatrice. S'il s'agit d'une erreur, répondez à cet email."
        )
    else:
        lines.append("C'est noté : merci de nous avoir prévenus." if waiting else "Votre place est libérée.")
    attachments = []
    if from_status == "inscrit":
        attachments.append(_ics(event, "CANCEL", registration))
        lines.append("L'annulation jointe retire l'événement de votre agenda.")
    if event.status == "publie" and as_utc(event.ends_at) > utcnow():
        lines += ["", f"Pour vous inscrire de nouveau : {external_url('public_events.show', slug=event.slug)}"]
    subject = "Liste d'attente quittée" if waiting else "Inscription annulée"
    return _send(
        registration,
        "registration.cancellation",
        f"{subject} : {event.title}",
        "\n".join(lines) + signature(),
        attachments=attachments,
        user_id=user_id,
        dedupe_key=f"registration.cancellation:{registration.id}:{as_utc(registration.cancelled_at).isoformat()}",
    )


def _active_registrations(event: Event) -> list[Registration]:
    return list(
        db.session.scalars(
            select(Registration)
            .where(Registration.event_id == event.id, Registration.status.in_(("inscrit", "attente")))
            .order_by(Registration.id)
        )
    )


def event_cancelled(event: Event, *, user_id: int | None = None) -> None:
    """Everyone registered or waiting is told; registered people get METHOD:CANCEL."""
    for registration in _active_registrations(event):
        body = (
            f"Bonjour {registration.first_name},\n\nNous sommes au regret de vous informer que l'événement\n"
            f"{event_details(event)}\nest annulé.{signature()}"
        )
        attachments = [_ics(event, "CANCEL", registration)] if registration.status == "inscrit" else []
        _send(
            registration,
            "event.cancelled",
            f"Événement annulé : {event.title}",
            body,
            attachments=attachments,
            user_id=user_id,
        )


def event_changed(event: Event, *, user_id: int | None = None) -> None:
    """Registered people get the updated invitation (same UID, higher SEQUENCE)."""
    for registration in _active_registrations(event):
        if registration.status != "inscrit":
            continue
        body = (
            f"Bonjour {registration.first_name},\n\nL'événement auquel vous êtes inscrit(e) a changé :\n"
            f"{event_details(event, join_link=True)}\n\nL'invitation jointe met votre agenda à jour.{signature()}"
        )
        _send(
            registration,
            "event.changed",
            f"Modification : {event.title}",
            body,
            attachments=[_ics(event, "REQUEST", registration)],
            user_id=user_id,
        )
