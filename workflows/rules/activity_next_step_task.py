"""Activity next step: an activity logged with a next step becomes a task for its author, due on the next
step's date, about the structure chosen first; one task per activity (a next step added by an edit too)."""

from __future__ import annotations

from crm.activities.models import Activity
from crm.activities.services import plan_next_step
from crm.platform.extensions import db
from workflows.registry import DomainEvent, Rule, origin

LABEL = "Relance de la prochaine étape d'une activité"


def condition(event: DomainEvent, _settings: dict) -> bool:
    return event.payload.get("next_step_structure_id") is not None


def action(event: DomainEvent, _settings: dict) -> str:
    activity = db.session.get(Activity, event.aggregate_id)
    if activity is None:
        return "Activité supprimée : pas de relance."
    task = plan_next_step(activity, structure_id=event.payload["next_step_structure_id"], origin=origin(LABEL))
    if task is None:
        return f"Activité {activity.id} : relance déjà créée (ou plus de prochaine étape)."
    return f"Activité {activity.id} : relance {task.id} pour son auteur."


RULE = Rule(
    name="activity_next_step_task",
    label=LABEL,
    description=(
        "Une activité déclarée avec une prochaine étape : une relance pour son auteur, à l'échéance "
        "de la prochaine étape, sur la première structure choisie ; une seule par activité."
    ),
    triggers=("activity.logged", "activity.updated"),
    condition=condition,
    action=action,
)
