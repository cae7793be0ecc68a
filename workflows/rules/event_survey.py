"""Satisfaction survey: some hours after a published or closed event ends, each participant marked present
is invited once (the organiser's "send the survey" button shares that guarantee); never for a cancelled
event, never to a cancelled registration, never weeks after the event."""

from __future__ import annotations

from datetime import timedelta

from crm.events.followup import survey
from crm.events.models import Registration
from crm.platform.extensions import db
from workflows.registry import ScheduledRule, Setting, defaults_of, origin

SETTINGS = (
    Setting("hours_after", "Envoyer l'enquête ce nombre d'heures après la fin", 2, 0, 72),
    Setting("max_days_after", "Ne plus l'envoyer au-delà de ce nombre de jours après la fin", 14, 4, 60),
)
LABEL = "Enquête de satisfaction après l'événement"


def due(now, settings: dict):
    """The present participants not invited yet of the events that ended in the window."""
    ended_after = now - timedelta(days=settings["max_days_after"])
    ended_before = now - timedelta(hours=settings["hours_after"])
    return [
        (f"registration:{registration.id}", registration.id)
        for registration in survey.participants_to_invite(ended_after, ended_before)
    ]


def action(registration_id: int, _settings: dict) -> str:
    registration = db.session.get(Registration, registration_id)
    if registration is None:
        return "Inscription supprimée : pas d'enquête."
    if registration.status != "present":
        return f"Inscription {registration_id} au statut « {registration.status_label} » : pas d'enquête."
    reason = survey.survey_error(registration.event)
    if reason:
        return f"Inscription {registration_id} : {reason}"
    if survey.invite(registration) is None:
        return f"Inscription {registration_id} : enquête déjà envoyée."
    survey.record_sent(registration.event, [registration.id], origin=origin(LABEL))
    return f"Inscription {registration_id} : enquête envoyée."


RULE = ScheduledRule(
    name="event_survey",
    label=LABEL,
    description=(
        "Après la fin d'un événement publié ou clos, l'enquête de satisfaction à chaque participant "
        "présent, une seule fois (le bouton « Envoyer l'enquête » de l'organisateur partage cette "
        "garantie) ; jamais pour un événement annulé ni à une inscription annulée."
    ),
    due=due,
    action=action,
    defaults=defaults_of(SETTINGS),
    settings=SETTINGS,
)
