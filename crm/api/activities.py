"""Activities: the filtered list, one activity, logging one (with its next step as a task), editing and
deleting one."""

from __future__ import annotations

from flask import jsonify
from sqlalchemy import select

from crm.accounts import permissions
from crm.activities import services
from crm.activities.models import KINDS, Activity
from crm.api import serializers
from crm.api.helpers import department_code
from crm.api.idempotency import PARAM as IDEMPOTENCY_PARAM
from crm.api.idempotency import idempotent
from crm.api.registry import (
    CURSOR_PARAM,
    MAX_ID,
    PAGE_PARAMS,
    ApiError,
    Param,
    date_param,
    id_param,
    json_body,
    keyset_or_400,
    operation,
    page_links,
    query_args,
)
from crm.api.routes import api_user, bp
from crm.platform.extensions import db
from crm.platform.validation import ValidationFailed
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
    CURSOR_PARAM,
]


@operation(
    bp,
    "/activities",
    "GET",
    summary="Lister les activités",
    tag=TAG,
    ok=(200, "ActivityPage"),
    params=LIST_PARAMS,
    description="Les plus récentes d'abord. Suivez links.next (un curseur) pour la suite ; page sert pour les "
    "premières pages (10 000 éléments au plus). meta.total s'arrête à 10 000 (meta.total_capped).",
)
def list_activities():
    args = query_args(LIST_PARAMS)
    page = keyset_or_400(
        services.list_activities,
        page=args["page"],
        cursor=args["cursor"],
        per_page=args["per_page"],
        department=department_code(args["department"]),
        kind=args["kind"],
        programme=args["programme"],
        author=args["author"],
        start=args["start"],
        end=args["end"],
        structure=args["structure"],
    )
    return jsonify(page_links(page, serializers.activity))


@operation(bp, "/activities/<int:activity_id>", "GET", summary="Lire une activité", tag=TAG, ok=(200, "Activity"))
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


@operation(
    bp,
    "/activities",
    "POST",
    summary="Déclarer une activité",
    tag=TAG,
    ok=(201, "Activity"),
    body="ActivityInput",
    errors=(403, 409),
    params=[IDEMPOTENCY_PARAM],
    description="Une activité peut concerner plusieurs structures (de vos départements). Une prochaine "
    "étape (next_step + next_step_due_on) devient une relance pour l'auteur, créée par une "
    "règle automatique quelques secondes après (GET /api/v1/tasks). Une activité du même "
    "auteur, du même type, du même jour et sur les mêmes structures, déclarée il y a moins "
    "de dix minutes, est un doublon : 409 avec l'activité existante dans error.existing, "
    'sauf avec "confirm_duplicate": true.',
)
def create_activity():
    user = api_user()
    if not permissions.can_log_activity(user):
        raise ApiError(403, "Votre rôle ne permet pas de déclarer des activités.")
    body = json_body("ActivityInput")

    def write():
        try:
            activity = services.log_activity(body, user=user, commit=False, check_duplicates=True)
        except ValidationFailed as error:
            # The service refuses foreign structures as a field error; the API says 403, like elsewhere.
            if "structure_ids" in error.errors:
                _refuse_foreign_structures(user, body.get("structure_ids"))
            raise
        except services.DuplicateActivity as duplicate:
            raise ApiError(
                409,
                "Cette activité semble déjà déclarée (même type, même jour, mêmes structures, il "
                'y a quelques minutes). Renvoyez-la avec "confirm_duplicate": true pour la '
                "déclarer quand même.",
                extra={
                    "existing": {
                        "id": duplicate.existing.id,
                        "url": serializers.url("activities", duplicate.existing.id),
                    }
                },
            ) from duplicate
        return serializers.activity(activity), 201

    return idempotent(user, body, write)


def _editable_activity(activity_id: int) -> Activity:
    activity = db.session.get(Activity, activity_id)
    if activity is None:
        raise ApiError(404, "Activité introuvable.")
    if not permissions.can_edit_activity(api_user(), activity):
        raise ApiError(
            403,
            "Seuls son auteur, un animateur des départements de ses structures et un "
            "administrateur modifient ou suppriment une activité.",
        )
    return activity


@operation(
    bp,
    "/activities/<int:activity_id>",
    "PATCH",
    summary="Modifier une activité",
    tag=TAG,
    ok=(200, "Activity"),
    body="ActivityPatch",
    errors=(403,),
    params=[IDEMPOTENCY_PARAM],
    description="Modification partielle : les champs absents gardent leur valeur ; une liste "
    "(structure_ids...) remplace la précédente. Son auteur, un animateur des départements "
    "de ses structures (une structure ajoutée doit être de vos départements) ou un "
    "administrateur. Les indicateurs suivent quelques secondes après.",
)
def update_activity(activity_id: int):
    user = api_user()
    activity = _editable_activity(activity_id)
    body = json_body("ActivityPatch")

    def write():
        try:
            services.update_activity(activity, body, user=user, commit=False)
        except ValidationFailed as error:
            if "structure_ids" in error.errors:
                _refuse_foreign_structures(
                    user, [i for i in body.get("structure_ids") or [] if i not in {s.id for s in activity.structures}]
                )
            raise
        return serializers.activity(activity), 200

    return idempotent(user, body, write)


@operation(
    bp,
    "/activities/<int:activity_id>",
    "DELETE",
    summary="Supprimer une activité",
    tag=TAG,
    ok=(200, "Deleted"),
    errors=(403,),
    params=[IDEMPOTENCY_PARAM],
    description="Son auteur, un animateur des départements de ses structures ou un administrateur. "
    "L'historique garde ce qu'elle était ; les indicateurs suivent quelques secondes après.",
)
def delete_activity(activity_id: int):
    user = api_user()

    def write():  # the lookup too: a retried DELETE (same key) answers as the first did, not 404
        services.delete_activity(_editable_activity(activity_id), user=user, commit=False)
        return {"id": activity_id, "deleted": True}, 200

    return idempotent(user, None, write)
