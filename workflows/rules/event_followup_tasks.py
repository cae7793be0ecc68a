"""Event follow-up: once an event is over, each structure that came and has no open opportunity on the
event's programmes gets a follow-up task for the animator of its department (none: nothing, and the run
says so); once per event and structure.

A scheduled rule rather than the "event closed" event: organisers do not always close their events, and
a webinar's attendance is often imported days later; each sweep picks up the structures marked present
since, for a few weeks after the event.
"""

from __future__ import annotations

from datetime import timedelta

from crm.events.followup.tasks import follow_up_attendance, structures_to_follow_up
from crm.events.models import Event
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.structures.models import Structure
from workflows.registry import ScheduledRule, Setting, defaults_of, origin

SETTINGS = (
    Setting("days_after", "Créer les relances ce nombre de jours après la fin de l'événement", 1, 0, 30),
    Setting("within_days", "Puis suivre encore les présences enregistrées pendant (jours)", 14, 1, 90),
    Setting("due_in_days", "Échéance de la relance (jours après sa création)", 7, 0, 60),
)
LABEL = "Relance des structures venues à un événement"


def due(now, settings: dict):
    ended_before = now - timedelta(days=settings["days_after"])
    ended_after = ended_before - timedelta(days=settings["within_days"])
    return [
        (f"event:{event_id}:structure:{structure_id}", (event_id, structure_id))
        for event_id, structure_id in structures_to_follow_up(ended_after, ended_before)
    ]


def action(item: tuple[int, int], settings: dict) -> str:
    event_id, structure_id = item
    event, structure = db.session.get(Event, event_id), db.session.get(Structure, structure_id)
    if event is None or structure is None:
        return "Événement ou structure supprimé : pas de relance."
    _task, detail = follow_up_attendance(
        event, structure, origin=origin(LABEL), due_on=local_today() + timedelta(days=settings["due_in_days"])
    )
    return f"{structure.name} : {detail}."


RULE = ScheduledRule(
    name="event_followup_tasks",
    label=LABEL,
    description=(
        "Après un événement, pour chaque structure présente sans opportunité ouverte sur les "
        "programmes de l'événement : une relance pour l'animateur de son département (le premier "
        "créé s'ils sont plusieurs), une seule fois par événement et structure."
    ),
    due=due,
    action=action,
    defaults=defaults_of(SETTINGS),
    settings=SETTINGS,
    every=timedelta(minutes=15),
)
