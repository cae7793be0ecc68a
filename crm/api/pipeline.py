"""Opportunities (with their stage transitions) and projects."""

from __future__ import annotations

from flask import jsonify

from crm.accounts import permissions
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
from crm.pipeline import queries, services
from crm.pipeline.models import CLOSED_STAGES, PROJECT_STATUSES, STAGES, Milestone, Opportunity, Project
from crm.platform.concurrency import StaleEdit
from crm.platform.extensions import db
from crm.platform.validation import ValidationFailed
from crm.structures.models import Structure

TAG_OPPORTUNITIES, TAG_PROJECTS = "Opportunités", "Projets"
OPPORTUNITY_PARAMS = [
    Param("department", {"type": "string", "maxLength": 3}, "Département de la structure."),
    id_param("programme", "Programme de l'offre."),
    id_param("owner", "Responsable (identifiant de l'utilisateur)."),
    Param(
        "stage",
        {"type": "string", "enum": [*STAGES, "perdue_abandonnee"]},
        "Étape (perdue_abandonnee : les deux étapes perdues).",
    ),
    date_param("start", "Identifiées à partir du (inclus)."),
    date_param("end", "Identifiées jusqu'au (inclus)."),
    *PAGE_PARAMS,
    CURSOR_PARAM,
]
PROJECT_PARAMS = [
    Param("department", {"type": "string", "maxLength": 3}, "Département de la structure."),
    id_param("programme", "Programme de l'offre."),
    id_param("owner", "Responsable (identifiant de l'utilisateur)."),
    Param("status", {"type": "string", "enum": list(PROJECT_STATUSES)}, "Statut du projet."),
    id_param("structure", "Projets de cette structure."),
    *PAGE_PARAMS,
    CURSOR_PARAM,
]


def _opportunity_or_404(opportunity_id: int) -> Opportunity:
    opportunity = db.session.get(Opportunity, opportunity_id)
    if opportunity is None:
        raise ApiError(404, "Opportunité introuvable.")
    return opportunity


@operation(
    bp,
    "/opportunities",
    "GET",
    summary="Lister les opportunités",
    tag=TAG_OPPORTUNITIES,
    ok=(200, "OpportunityPage"),
    params=OPPORTUNITY_PARAMS,
    description="Les plus récemment changées d'étape d'abord.",
)
def list_opportunities():
    args = query_args(OPPORTUNITY_PARAMS)
    filters = queries.OpportunityFilters(
        department=department_code(args["department"]),
        programme=args["programme"],
        owner=args["owner"],
        start=args["start"],
        end=args["end"],
        stage=args["stage"],
    )
    page = keyset_or_400(
        queries.list_opportunities, filters, page=args["page"], per_page=args["per_page"], cursor=args["cursor"]
    )
    projects = serializers.project_ids_for([o.id for o in page.items])
    return jsonify(page_links(page, lambda o: serializers.opportunity(o, projects.get(o.id))))


@operation(
    bp,
    "/opportunities/<int:opportunity_id>",
    "GET",
    summary="Lire une opportunité et son historique",
    tag=TAG_OPPORTUNITIES,
    ok=(200, "OpportunityDetail"),
)
def get_opportunity(opportunity_id: int):
    return jsonify(serializers.opportunity_detail(_opportunity_or_404(opportunity_id)))


@operation(
    bp,
    "/opportunities",
    "POST",
    summary="Créer une opportunité",
    tag=TAG_OPPORTUNITIES,
    ok=(201, "OpportunityDetail"),
    body="OpportunityInput",
    errors=(403,),
    params=[IDEMPOTENCY_PARAM],
    description="À l'étape « identifiée » ; le responsable est par défaut l'animateur du département "
    "de la structure. identified_on : aujourd'hui par défaut, ou un jour passé (un besoin "
    "repéré la semaine dernière), jamais dans le futur ; il place l'opportunité dans la "
    "cohorte du taux de transformation.",
)
def create_opportunity():
    user = api_user()
    if user.role not in permissions.EDIT_ROLES:
        raise ApiError(403, "Votre rôle ne permet pas de créer des opportunités.")
    body = json_body("OpportunityInput")
    structure_id = body.get("structure_id")
    _refuse_foreign_structure(user, structure_id)

    def write():
        opportunity = services.create_opportunity(body, user=user, commit=False)
        return serializers.opportunity_detail(opportunity), 201

    return idempotent(user, body, write)


def _refuse_foreign_structure(user, structure_id) -> None:
    if isinstance(structure_id, int) and not isinstance(structure_id, bool) and 1 <= structure_id <= MAX_ID:
        structure = db.session.get(Structure, structure_id)
        if structure is not None and not permissions.can_edit_structure(user, structure):
            message = "Cette structure n'est pas dans vos départements."
            raise ApiError(403, message, {"structure_id": message})


@operation(
    bp,
    "/opportunities/<int:opportunity_id>",
    "PATCH",
    summary="Modifier ou changer d'étape",
    tag=TAG_OPPORTUNITIES,
    ok=(200, "OpportunityDetail"),
    body="OpportunityPatch",
    errors=(403, 409),
    description="title, need, owner_id, expected_on sont modifiés ; stage (avec reason_id pour perdue "
    "et abandonnée, et un commentaire) est une transition validée, enregistrée dans "
    "l'historique. Le tout en une transaction. Gagner fait créer le projet par une règle "
    "automatique, quelques secondes après : project_id est null dans la réponse et "
    "renseigné ensuite. Une opportunité close ne change plus d'étape (409), une version "
    "périmée non plus (409).",
)
def update_opportunity(opportunity_id: int):
    user = api_user()
    opportunity = _opportunity_or_404(opportunity_id)
    if not permissions.can_edit_structure(user, opportunity.structure):
        raise ApiError(403, "Cette opportunité concerne une structure hors de vos départements.")
    body = json_body("OpportunityPatch")
    version = body.pop("version", None)
    move = {key: body.pop(key) for key in ("stage", "reason_id", "comment") if key in body}
    if move and "stage" not in move:
        raise ApiError(422, "Données invalides.", {"stage": "Indiquez l'étape visée avec la raison ou le commentaire."})
    if version is not None and version != opportunity.version:
        raise StaleEdit("Cette opportunité a été modifiée entre-temps. Relisez-la avant de la modifier.")
    was_closed = opportunity.stage in CLOSED_STAGES
    if body:
        services.update_opportunity(opportunity, body, user=user, commit=False)
    if move:
        try:
            services.change_stage(
                opportunity,
                move["stage"],
                user=user,
                reason_id=move.get("reason_id"),
                comment=move.get("comment"),
                commit=False,
            )
        except ValidationFailed as error:
            if was_closed and "stage" in error.errors:
                raise ApiError(409, error.errors["stage"], error.errors) from error
            raise
    services.commit_changes()
    return jsonify(serializers.opportunity_detail(opportunity))


# --- projects --------------------------------------------------------------------------------------


@operation(
    bp,
    "/projects",
    "GET",
    summary="Lister les projets (accompagnements)",
    tag=TAG_PROJECTS,
    ok=(200, "ProjectPage"),
    params=PROJECT_PARAMS,
    description="Les plus récemment démarrés d'abord.",
)
def list_projects():
    args = query_args(PROJECT_PARAMS)
    filters = queries.ProjectFilters(
        department=department_code(args["department"]),
        programme=args["programme"],
        status=args["status"],
        owner=args["owner"],
        structure=args["structure"],
    )
    page = keyset_or_400(
        queries.list_projects, filters, page=args["page"], per_page=args["per_page"], cursor=args["cursor"]
    )
    return jsonify(page_links(page, serializers.project))


@operation(
    bp,
    "/projects/<int:project_id>",
    "GET",
    summary="Lire un projet et ses jalons",
    tag=TAG_PROJECTS,
    ok=(200, "ProjectDetail"),
)
def get_project(project_id: int):
    project = db.session.get(Project, project_id)
    if project is None:
        raise ApiError(404, "Projet introuvable.")
    return jsonify(serializers.project_detail(project))


def _editable_project(project_id: int) -> Project:
    project = db.session.get(Project, project_id)
    if project is None:
        raise ApiError(404, "Projet introuvable.")
    if not permissions.can_edit_structure(api_user(), project.structure):
        raise ApiError(403, "Ce projet concerne une structure hors de vos départements.")
    return project


@operation(
    bp,
    "/projects",
    "POST",
    summary="Démarrer un projet directement",
    tag=TAG_PROJECTS,
    ok=(201, "ProjectDetail"),
    body="ProjectInput",
    errors=(403,),
    params=[IDEMPOTENCY_PARAM],
    description="Un accompagnement qui ne vient pas d'une opportunité (celui d'une opportunité gagnée est "
    "créé par une règle automatique). Statut « en cours », démarré aujourd'hui par défaut ; "
    "il compte pour l'engagement de la structure, pas pour le taux de transformation.",
)
def create_project():
    user = api_user()
    if user.role not in permissions.EDIT_ROLES:
        raise ApiError(403, "Votre rôle ne permet pas de créer des projets.")
    body = json_body("ProjectInput")
    _refuse_foreign_structure(user, body.get("structure_id"))

    def write():
        project = services.create_project(body, user=user, commit=False)
        return serializers.project_detail(project), 201

    return idempotent(user, body, write)


@operation(
    bp,
    "/projects/<int:project_id>",
    "PATCH",
    summary="Modifier un projet ou changer son statut",
    tag=TAG_PROJECTS,
    ok=(200, "ProjectDetail"),
    body="ProjectPatch",
    errors=(403, 409),
    description="Modification partielle. status : en_cours, suspendu, termine (la fin est alors "
    "aujourd'hui si ended_on n'est pas donnée ; repris, le projet n'a plus de fin). "
    "version : 409 si le projet a changé depuis.",
)
def update_project(project_id: int):
    user = api_user()
    project = _editable_project(project_id)
    body = json_body("ProjectPatch")
    version = body.pop("version", None)
    services.update_project(project, body, user=user, expected_version=version)
    return jsonify(serializers.project_detail(project))


@operation(
    bp,
    "/projects/<int:project_id>/milestones",
    "POST",
    summary="Ajouter un jalon",
    tag=TAG_PROJECTS,
    ok=(201, "Milestone"),
    body="MilestoneInput",
    errors=(403,),
    params=[IDEMPOTENCY_PARAM],
)
def add_milestone(project_id: int):
    user = api_user()
    project = _editable_project(project_id)
    body = json_body("MilestoneInput")

    def write():
        milestone = services.add_milestone(project, body, user=user, commit=False)
        return serializers.milestone(milestone), 201

    return idempotent(user, body, write)


@operation(
    bp,
    "/projects/<int:project_id>/milestones/<int:milestone_id>",
    "PATCH",
    summary="Marquer un jalon atteint ou à faire",
    tag=TAG_PROJECTS,
    ok=(200, "Milestone"),
    body="MilestonePatch",
    errors=(403,),
)
def update_milestone(project_id: int, milestone_id: int):
    user = api_user()
    project = _editable_project(project_id)
    milestone = db.session.get(Milestone, milestone_id)
    if milestone is None or milestone.project_id != project.id:
        raise ApiError(404, "Jalon introuvable.")
    body = json_body("MilestonePatch")
    if "done" not in body:
        raise ApiError(422, "Données invalides.", {"done": "Indiquez si le jalon est atteint (true ou false)."})
    services.set_milestone_done(milestone, body["done"], user=user)
    return jsonify(serializers.milestone(milestone))
