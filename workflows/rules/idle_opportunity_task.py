"""Idle opportunity: an open opportunity whose stage has not changed for some days, with no open task,
gets a task for its owner; once per idle spell (the spell is named by the day of its last stage change)."""

from __future__ import annotations

from datetime import timedelta

from crm.pipeline.followups import follow_up_idle, idle_opportunities
from crm.pipeline.models import Opportunity
from crm.platform.dates import local_date
from crm.platform.extensions import db
from crm.platform.models import utcnow
from workflows.registry import ScheduledRule, Setting, defaults_of, origin

SETTINGS = (Setting("days", "Nombre de jours sans changement d'étape", 30, 1, 365),)
LABEL = "Relance d'une opportunité sans suite"


def due(now, settings: dict):
    return [
        (f"opportunity:{opportunity_id}:{local_date(changed_at).isoformat()}", opportunity_id)
        for opportunity_id, changed_at in idle_opportunities(now, settings["days"])
    ]


def action(opportunity_id: int, settings: dict) -> str:
    opportunity = db.session.get(Opportunity, opportunity_id)
    if opportunity is None:
        return "Opportunité supprimée : pas de relance."
    task = follow_up_idle(opportunity, days=settings["days"], now=utcnow(), origin=origin(LABEL))
    if task is None:
        return f"Opportunité {opportunity_id} : plus concernée (étape changée ou close)."
    return f"Opportunité {opportunity_id} : relance {task.id} pour son responsable."


RULE = ScheduledRule(
    name="idle_opportunity_task",
    label=LABEL,
    description=(
        "Une opportunité ouverte dont l'étape n'a pas changé depuis le nombre de jours choisi, sans "
        "relance ouverte : une relance pour son responsable, une fois par période d'inactivité."
    ),
    due=due,
    action=action,
    defaults=defaults_of(SETTINGS),
    settings=SETTINGS,
    every=timedelta(hours=1),
)
