"""Activities: the filtered list, one activity, logging one (with its next step as a task)."""
from __future__ import annotations

from flask import jsonify
from sqlalchemy import select

from crm.accounts import permissions
from crm.activities import services
from crm.activities.models import KINDS, Activity
from crm.api import serializers
from crm.api.registry import (
    MAX_ID, PAGE_PARAMS, ApiError, Param, date_param, id_param, json_body, operation, page_links, query_args,
)
from crm.api.routes import api_user, bp, loaded_after_commit
from crm.api.structures import created, department_code
from crm.core.validation import ValidationFailed
from crm.extensions import db
from crm.structures.models import Structure

TAG = "Activités"
LIST_PARAMS = [
    Param("department", {"type": "string", "maxLength": 3}, "Activités concernant une structure du département."),
    Param("kind", {"type": "string", "enum": list(KINDS)}, "Type d'activité."),
    id_param("programme", "Programme abordé (directement ou par une offre)."),
    id_param("author", "Auteur (identifiant de l'utilisateur)."),
    date_param("start", "Activités du ... (inclus)."),
    date_param("end", "... au (inclus)."),
    id_param("structure", "Activités concernant cette structure."),
    *PAGE_PARAMS,
]


@operation(bp, "/activities", "GET", summary="Lister les activités", tag=TAG, ok=(200, "ActivityPage"),
           params=LIST_PARAMS, description="Les plus récentes d'abord.")
def list_activities():
    args = query_args(LIST_PARAMS)
    page = services.list_activities(
        page=args["page"], per_page=args["per_page"], department=department_code(args["department"]),
        kind=args["kind"], programme=args["programme"], author=args["author"], start=args["start"],
        end=args["end"], structure=args["structure"])
    return jsonify(page_links(page, serializers.activity))


@operation(bp, "/activities/<int:activity_id>", "GET", summary="Lire une activité", tag=TAG,
           ok=(200, "Activity"))
def get_activity(activity_id: int):
    activity = db.session.get(Activity, activity_id)
    if activity is None:
        raise ApiError(404, "Activité introuvable.")
    return jsonify(serializers.activity(activity))


def _refuse_foreign_structures(user, structure_ids) -> None:
    """403 when a structure concerned is outside the animator's departments."""
    if user.role == "admin" or not isinstance(structure_ids, list):
        return
    ids = [i for i in structure_ids if isinstance(i, int) and not isinstance(i, bool) and 1 <= i <= MAX_ID]
    if not ids:
        return
    codes = set(db.session.scalars(select(Structure.department_code).where(Structure.id.in_(ids))))
    if codes - user.department_codes:
        message = "Vous ne pouvez déclarer une activité que pour des structures de vos départements."
        raise ApiError(403, message, {"structure_ids": message})


@operation(bp, "/activities", "POST", summary="Déclarer une activité", tag=TAG, ok=(201, "Activity"),
           body="ActivityInput", errors=(403,),
           description="Une activité peut concerner plusieurs structures (de vos départements). Une prochaine "
                       "étape (next_step + next_step_due_on) devient une relance pour l'auteur, créée par une "
                       "règle automatique quelques secondes après (GET /api/v1/tasks).")
def create_activity():
    user = api_user()
    if not permissions.can_log_activity(user):
        raise ApiError(403, "Votre rôle ne permet pas de déclarer des activités.")
    body = json_body("ActivityInput")
    try:
        with loaded_after_commit():
            activity = services.log_activity(body, user=user)
    except ValidationFailed as error:
        # The service refuses foreign structures as a field error; the API says 403, like elsewhere.
        if "structure_ids" in error.errors:
            _refuse_foreign_structures(user, body.get("structure_ids"))
        raise
    return created(serializers.activity(activity))
