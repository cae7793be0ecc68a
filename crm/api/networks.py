"""Networks (issue 14), read-only: the grappes formed via a Rendez-vous ESMS numérique, the référents of an
offer, the mesh strategy's targets. Every role with a token reads them."""

from __future__ import annotations

from flask import jsonify

from crm.api.helpers import department_code
from crm.api.registry import PAGE_PARAMS, Param, id_param, operation, page_links, query_args
from crm.api.routes import bp
from crm.api.serializers import iso
from crm.networks import services
from crm.platform.paging import Page
from crm.platform.validation import ValidationFailed
from crm.referential.services import known_department

TAG = "Réseaux"
DEPARTMENT = Param("department", {"type": "string", "maxLength": 3}, "Code du département (31).")


def _department(args) -> str | None:
    code = department_code(args.get("department"))
    if code is not None and not known_department(code):
        raise ValidationFailed({"department": "Département inconnu."})
    return code


ATTRIBUTION_PARAMS = [
    DEPARTMENT,
    Param("year", {"type": "integer", "minimum": 2000, "maximum": 2100}, "Année de création."),
]


@operation(
    bp,
    "/networks/grappes/attribution",
    "GET",
    summary="Grappes formées via un Rendez-vous ESMS numérique",
    tag=TAG,
    ok=(200, "GrappeAttribution"),
    params=ATTRIBUTION_PARAMS,
    errors=(422,),
    description="Une grappe compte quand l'une de ses structures a été présente à un Rendez-vous ESMS numérique "
    "tenu avant la date de création de la grappe. share : part de 0 à 1 (null sans grappe).",
)
def grappe_attribution():
    args = query_args(ATTRIBUTION_PARAMS)
    attribution = services.grappe_attribution(_department(args), args["year"])
    return jsonify(attribution.as_dict())


REFERENT_PARAMS = [id_param("offer", "Offre."), DEPARTMENT, *PAGE_PARAMS]


@operation(
    bp,
    "/networks/referents",
    "GET",
    summary="Référents en fonction",
    tag=TAG,
    ok=(200, "ReferentPage"),
    params=REFERENT_PARAMS,
    errors=(422,),
    description="Les référents en fonction, par offre et département de leur structure (paginé, par "
    "département, structure et nom).",
)
def list_referents():
    args = query_args(REFERENT_PARAMS)
    per_page, page = args["per_page"], args["page"]
    filters = {"offer_id": args["offer"], "department": _department(args)}
    found = services.referents(**filters, limit=per_page, offset=(page - 1) * per_page)

    def serialise(r):
        return {
            "id": r.id,
            "contact_id": r.contact_id,
            "structure_id": r.structure_id,
            "department": r.structure.department_code,
            "offer_id": r.offer_id,
            "started_on": iso(r.started_on),
        }

    page_of = Page(items=found, total=services.count_referents(**filters), page=page, per_page=per_page)
    return jsonify(page_links(page_of, serialise))


MESH_PARAMS = [Param("offer", {"type": "integer", "minimum": 1}, "Offre.", required=True), DEPARTMENT, *PAGE_PARAMS]


@operation(
    bp,
    "/networks/mesh",
    "GET",
    summary="Stratégie de maillage",
    tag=TAG,
    ok=(200, "MeshTargetPage"),
    params=MESH_PARAMS,
    errors=(422,),
    description="Les partenaires des structures utilisant l'offre qui ne l'utilisent pas encore (dans le "
    "département s'il est donné), avec les structures utilisatrices auxquelles ils sont liés, les plus liés "
    "à des utilisatrices d'abord (paginé).",
)
def mesh():
    args = query_args(MESH_PARAMS)
    if args["offer"] is None:
        raise ValidationFailed({"offer": "L'offre est obligatoire."})
    per_page, page = args["per_page"], args["page"]
    targets, total = services.mesh_targets(
        args["offer"], _department(args), limit=per_page, offset=(page - 1) * per_page
    )

    def serialise(t):
        return {
            "structure_id": t.structure.id,
            "name": t.structure.name,
            "department": t.structure.department_code,
            "users": t.users,
            "linked_users": [{"structure_id": s.id, "link_type": label} for s, label in t.via],
        }

    return jsonify(page_links(Page(items=targets, total=total, page=page, per_page=per_page), serialise))
