"""Won opportunity: when an opportunity moves to "gagnée", its project starts for the structure and the
offer, linked to it; never a second project for the same opportunity."""

from __future__ import annotations

from crm.pipeline.models import Opportunity
from crm.pipeline.services import start_won_project
from crm.platform.extensions import db
from workflows.registry import DomainEvent, Rule, origin

LABEL = "Projet d'une opportunité gagnée"


def condition(event: DomainEvent, _settings: dict) -> bool:
    return event.payload.get("to_stage") == "gagnee"


def action(event: DomainEvent, _settings: dict) -> str:
    opportunity = db.session.get(Opportunity, event.aggregate_id)
    if opportunity is None:
        return "Opportunité supprimée : pas de projet."
    project = start_won_project(opportunity, user_id=event.actor_id, origin=origin(LABEL))
    if project is None:
        return f"Opportunité {opportunity.id} : projet déjà créé (ou opportunité plus gagnée)."
    return f"Opportunité {opportunity.id} : projet {project.id} créé."


RULE = Rule(
    name="won_opportunity_project",
    label=LABEL,
    description=(
        "Quand une opportunité passe en « gagnée » : le projet d'accompagnement de la structure sur "
        "l'offre, lié à l'opportunité, confié à son responsable ; jamais deux projets pour la même "
        "opportunité."
    ),
    triggers=("opportunity.stage_changed",),
    condition=condition,
    action=action,
)
