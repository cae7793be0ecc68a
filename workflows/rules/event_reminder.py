"""Event reminder: some days before a published event starts, each person holding a seat ("inscrit") is
reminded once; never for a cancelled event, never once the event has begun."""

from __future__ import annotations

from datetime import timedelta

from crm.events.models import Registration
from crm.events.registration.reminders import registrations_to_remind, send_reminder
from crm.platform.extensions import db
from crm.platform.models import utcnow
from workflows.registry import ScheduledRule, Setting, defaults_of

SETTINGS = (Setting("days_before", "Envoyer le rappel ce nombre de jours avant le début", 2, 1, 30),)


def due(now, settings: dict):
    """The seats of the events starting within the delay, taken before the reminder time."""
    delay = timedelta(days=settings["days_before"])
    return [
        (f"registration:{registration_id}", registration_id) for registration_id in registrations_to_remind(now, delay)
    ]


def action(registration_id: int, _settings: dict) -> str:
    registration = db.session.get(Registration, registration_id)
    if registration is None:
        return "Inscription supprimée : pas de rappel."
    _message, detail = send_reminder(registration, utcnow())
    return f"Inscription {registration_id} : {detail}."


RULE = ScheduledRule(
    name="event_reminder",
    label="Rappel avant l'événement",
    description=(
        "Quelques jours avant un événement publié, un rappel à chaque personne inscrite, une seule "
        "fois ; jamais pour un événement annulé ou déjà commencé, ni à une inscription annulée ou "
        "en liste d'attente."
    ),
    due=due,
    action=action,
    defaults=defaults_of(SETTINGS),
    settings=SETTINGS,
)
