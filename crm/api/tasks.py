"""Tasks ("relances"): mine by default, created by hand, edited, done or reopened."""

from __future__ import annotations

from flask import jsonify

from crm.accounts import permissions
from crm.api import serializers
from crm.api.helpers import created
from crm.api.registry import PAGE_PARAMS, ApiError, Param, id_param, json_body, operation, page_links, query_args
from crm.api.routes import api_user, bp
from crm.platform.extensions import db
from crm.tasks import services
from crm.tasks.models import Task

TAG = "Relances"
LIST_PARAMS = [
    id_param("owner", "Relances de cet utilisateur (administrateurs seulement ; par défaut les miennes)."),
    Param(
        "status",
        {"type": "string", "enum": ["open", "done", "all"], "default": "open"},
        "open : à faire (échéance la plus proche d'abord, sans date à la fin) ; done : faites ; all : toutes.",
    ),
    *PAGE_PARAMS,
]
EDITABLE = ("title", "description", "due_on", "owner_id")


def _task_or_404(task_id: int) -> Task:
    task = db.session.get(Task, task_id)
    if task is None:
        raise ApiError(404, "Relance introuvable.")
    return task


def _may_read(user, task: Task) -> bool:
    return user.role == "admin" or user.id in (task.owner_id, task.created_by_id)


@operation(
    bp, "/tasks", "GET", summary="Lister mes relances", tag=TAG, ok=(200, "TaskPage"), params=LIST_PARAMS, errors=(403,)
)
def list_tasks():
    user = api_user()
    args = query_args(LIST_PARAMS)
    owner = args["owner"] or user.id
    if owner != user.id and not permissions.is_admin(user):
        raise ApiError(
            403,
            "Seul un administrateur peut lire les relances d'un autre utilisateur.",
            {"owner": "Seul un administrateur peut lire les relances d'un autre utilisateur."},
        )
    page = services.list_tasks(owner_id=owner, status=args["status"], page=args["page"], per_page=args["per_page"])
    return jsonify(page_links(page, serializers.task))


@operation(
    bp,
    "/tasks/<int:task_id>",
    "GET",
    summary="Lire une relance",
    tag=TAG,
    ok=(200, "Task"),
    errors=(403,),
    description="Son responsable, son auteur ou un administrateur.",
)
def get_task(task_id: int):
    task = _task_or_404(task_id)
    if not _may_read(api_user(), task):
        raise ApiError(403, "Cette relance n'est pas la vôtre.")
    return jsonify(serializers.task(task))


@operation(
    bp,
    "/tasks",
    "POST",
    summary="Créer une relance",
    tag=TAG,
    ok=(201, "Task"),
    body="TaskInput",
    errors=(403,),
    description="Le responsable est par défaut l'utilisateur du jeton.",
)
def create_task():
    user = api_user()
    if not permissions.can_manage_tasks(user):
        raise ApiError(403, "Votre rôle ne permet pas de gérer des relances.")
    body = json_body("TaskInput")
    return created(serializers.task(services.create_task(body, user=user)))


@operation(
    bp,
    "/tasks/<int:task_id>",
    "PATCH",
    summary="Modifier, faire ou refaire une relance",
    tag=TAG,
    ok=(200, "Task"),
    body="TaskPatch",
    errors=(403,),
    description="Les champs absents gardent leur valeur ; done: true la marque faite, false la rouvre.",
)
def update_task(task_id: int):
    user = api_user()
    task = _task_or_404(task_id)
    if not permissions.can_edit_task(user, task):
        raise ApiError(403, "Seuls son responsable, son auteur ou un administrateur modifient cette relance.")
    body = json_body("TaskPatch")
    done = body.pop("done", None)
    if body:
        current = {field: getattr(task, field) for field in EDITABLE}
        services.update_task(task, {**current, **body}, user=user)
    if done is not None:
        services.set_done(task, done, user=user)
    return jsonify(serializers.task(task))
