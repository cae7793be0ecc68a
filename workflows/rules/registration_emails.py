"""Registration emails: when someone is registered, put on the waiting list, given a freed seat, or asks for
their email again, and the registration is still as that change left it, email them a new personal link
(with the calendar invitation when they hold a seat).

The request only writes the registration and its event; the link, the .ics and the email are built
here, in the dispatcher's transaction: an email per event, whatever the retries (``dedupe_key``).
"""

from __future__ import annotations

from datetime import datetime

from crm.events.models import Registration, as_utc
from crm.events.registration.links import send_personal_link
from crm.platform.extensions import db
from crm.platform.models import utcnow
from workflows.registry import DomainEvent, Rule

RESEND = "registration.resend_requested"
# trigger -> (the email, the status the registration had then, the moment that tells a later change)
EMAILS = {
    "registration.created": ("confirmation", "inscrit", "registered_at"),
    "registration.waitlisted": ("attente", "attente", "registered_at"),
    "registration.promoted": ("promotion", "inscrit", "promoted_at"),
}


def _moment(value) -> datetime | None:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return as_utc(value)


def condition(event: DomainEvent, _settings: dict) -> bool:
    """Registrations that took a seat or a place in line (an imported attendance is not one)."""
    if event.type == RESEND:
        return True
    return event.payload.get("status") == EMAILS[event.type][1]


def _outdated(registration: Registration | None, event: DomainEvent) -> str | None:
    """Why the email is not (or no longer) to be sent; None when it is."""
    if registration is None:
        return "inscription supprimée"
    if registration.event.status in ("annule", "clos"):
        return f"événement au statut « {registration.event.status_label} »"
    if as_utc(registration.event.ends_at) <= utcnow():
        return "événement terminé"
    if event.type == RESEND:
        if registration.status not in ("inscrit", "attente"):
            return f"inscription au statut « {registration.status_label} »"
        return None
    _email, status, moment = EMAILS[event.type]
    if registration.status != status or _moment(event.payload.get(moment)) != _moment(getattr(registration, moment)):
        return f"inscription changée depuis (statut « {registration.status_label} »)"
    return None


def action(event: DomainEvent, _settings: dict) -> str:
    registration = db.session.get(Registration, event.aggregate_id)
    reason = _outdated(registration, event)
    if reason:
        return f"Pas d'email : {reason}."
    if event.type == RESEND:
        email = "confirmation" if registration.status == "inscrit" else "attente"
    else:
        email = EMAILS[event.type][0]
    message = send_personal_link(
        registration,
        email,
        dedupe_key=f"registration_emails:{event.id}",
        user_id=event.actor_id,
        again=event.type == RESEND,
    )
    if message is None:
        return "Email déjà envoyé."
    return f"Email « {email} » à l'inscription {registration.id} (nouveau lien personnel)."


RULE = Rule(
    name="registration_emails",
    label="Emails d'inscription",
    description=(
        "À chaque inscription, mise en liste d'attente, place libérée ou nouvelle demande de la "
        "personne : l'email de confirmation (avec l'invitation .ics), de liste d'attente ou de place "
        "attribuée, avec un nouveau lien personnel d'annulation."
    ),
    triggers=(*EMAILS, RESEND),
    condition=condition,
    action=action,
)
