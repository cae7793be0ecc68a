"""Targets of the yearly objectives note: read by every role, written (upsert, delete) by managers and admins.

A target is identified by (indicator, year, department, programme): PUT or POST sets its value, creating it
when it does not exist (201) or changing it (200); DELETE removes it. Rates are in % (0–100), counts in units.
"""

from __future__ import annotations

from flask import jsonify
from sqlalchemy import func, select

from crm.api.helpers import department_code
from crm.api.registry import PAGE_PARAMS, ApiError, Param, id_param, json_body, operation, page_links, query_args
from crm.api.routes import api_user, bp
from crm.platform.extensions import db
from crm.platform.paging import Page
from crm.targets import services
from crm.targets.models import INDICATORS, Target

TAG = "Cibles"
LIST_PARAMS = [
    Param("year", {"type": "integer", "minimum": services.MIN_YEAR, "maximum": services.MAX_YEAR}, "Année."),
    Param(
        "department",
        {"type": "string", "maxLength": 6},
        "Code du département (31) ; « region » : les cibles de la région seulement.",
    ),
    Param("indicator", {"type": "string", "enum": list(INDICATORS)}, "Code de l'indicateur."),
    id_param("programme", "Programme CPOM."),
    *PAGE_PARAMS,
]


def serialise(target: Target) -> dict:
    definition = INDICATORS[target.indicator]
    return {
        "id": target.id,
        "url": f"/api/v1/targets/{target.id}",
        "indicator": target.indicator,
        "label": definition.label,
        "unit": "percent" if definition.is_rate else "count",
        "year": target.year,
        "department": target.department_code,
        "programme_id": target.programme_id,
        "value": float(target.value),
    }


@operation(
    bp,
    "/targets",
    "GET",
    summary="Lister les cibles",
    tag=TAG,
    ok=(200, "TargetPage"),
    params=LIST_PARAMS,
    description="Toutes les cibles, filtrées par année, département (region : la région seule), indicateur, "
    "programme. department null : la région ; programme_id null : tous les programmes.",
)
def list_targets():
    args = query_args(LIST_PARAMS)
    query = select(Target)
    if args["year"] is not None:
        query = query.where(Target.year == args["year"])
    department = department_code(args["department"])
    if department == "REGION":
        query = query.where(Target.department_code.is_(None))
    elif department is not None:
        query = query.where(Target.department_code == department)
    if args["indicator"] is not None:
        query = query.where(Target.indicator == args["indicator"])
    if args["programme"] is not None:
        query = query.where(Target.programme_id == args["programme"])
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    per_page, page = args["per_page"], args["page"]
    items = list(
        db.session.scalars(
            query.order_by(Target.year, Target.indicator, Target.scope_key, Target.id)
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    return jsonify(page_links(Page(items=items, total=total, page=page, per_page=per_page), serialise))


def _upsert():
    user = api_user()
    if not services.can_write(user):
        raise ApiError(403, "Seuls les managers et les administrateurs saisissent les cibles.")
    body = json_body("TargetInput")
    target, outcome = services.save_target(body, user=user, origin="api")
    return jsonify(serialise(target)), 201 if outcome == "created" else 200


UPSERT = dict(
    tag=TAG,
    ok=(200, "Target"),
    also={201: "Target"},
    body="TargetInput",
    errors=(403,),
    description="Crée la cible (201) ou change sa valeur (200) ; la même valeur : 200, rien d'écrit. "
    "Un taux est compris entre 0 et 100, un nombre est un entier positif ; value accepte 12.5 ou « 12,5 ». "
    "Managers et administrateurs.",
)


@operation(bp, "/targets", "PUT", summary="Fixer une cible", **UPSERT)
def put_target():
    return _upsert()


@operation(bp, "/targets", "POST", summary="Fixer une cible (comme PUT)", **UPSERT)
def post_target():
    return _upsert()


@operation(
    bp,
    "/targets/<int:target_id>",
    "GET",
    summary="Lire une cible",
    tag=TAG,
    ok=(200, "Target"),
)
def get_target(target_id: int):
    target = db.session.get(Target, target_id)
    if target is None:
        raise ApiError(404, "Cible introuvable.")
    return jsonify(serialise(target))


@operation(
    bp,
    "/targets/<int:target_id>",
    "DELETE",
    summary="Supprimer une cible",
    tag=TAG,
    ok=(200, "Deleted"),
    errors=(403,),
    description="Managers et administrateurs.",
)
def delete_target(target_id: int):
    user = api_user()
    if not services.can_write(user):
        raise ApiError(403, "Seuls les managers et les administrateurs saisissent les cibles.")
    target = db.session.get(Target, target_id)
    if target is None:
        raise ApiError(404, "Cible introuvable.")
    services.delete_target(target, user=user, origin="api")
    return jsonify({"id": target_id, "deleted": True})
