"""Deployment status from the pipeline: a project started for an offer, or an opportunity won, puts the
structure "en projet" for that offer; a higher status (déployé, en production, usage actif) is kept."""

from __future__ import annotations

from crm.deployment.services import raise_to_en_projet
from workflows.registry import DomainEvent, Rule, origin

PROJECT_LABEL = "Statut de déploiement d'un projet"
WON_LABEL = "Statut de déploiement d'une opportunité gagnée"


def _move(event: DomainEvent, label: str) -> str:
    payload = event.payload
    deployment = raise_to_en_projet(
        payload.get("structure_id"), payload.get("offer_id"), user_id=event.actor_id, origin=origin(label)
    )
    if deployment is None:
        return f"Structure {payload.get('structure_id')} : statut inchangé (déjà « en projet » ou au-delà)."
    return f"Structure {deployment.structure_id}, offre {deployment.offer_id} : « en projet »."


def project_action(event: DomainEvent, _settings: dict) -> str:
    return _move(event, PROJECT_LABEL)


def won_condition(event: DomainEvent, _settings: dict) -> bool:
    return event.payload.get("to_stage") == "gagnee"


def won_action(event: DomainEvent, _settings: dict) -> str:
    return _move(event, WON_LABEL)


PROJECT_RULE = Rule(
    name="project_deployment_status",
    label=PROJECT_LABEL,
    description=(
        "Quand un projet démarre pour une offre : la structure passe « en projet » sur cette offre, sauf si "
        "elle en est déjà là ou au-delà (déployé, en production, usage actif)."
    ),
    triggers=("project.created",),
    action=project_action,
)

WON_RULE = Rule(
    name="won_opportunity_deployment_status",
    label=WON_LABEL,
    description=(
        "Quand une opportunité passe en « gagnée » : la structure passe « en projet » sur l'offre, sans "
        "jamais faire redescendre un statut plus avancé."
    ),
    triggers=("opportunity.stage_changed",),
    condition=won_condition,
    action=won_action,
)
