"""Deployment and active usage rates per offer and department, for BI tools (every role reads them)."""

from __future__ import annotations

from flask import jsonify

from crm.api.registry import ApiError, Param, operation, query_args
from crm.api.routes import bp
from crm.deployment.services import offer_by_code
from crm.indicators.deployment import offers_figures, offers_followed, parse_month
from crm.referential.services import region_department_codes

PARAMS = [
    Param("offer", {"type": "string", "maxLength": 60}, "Code de l'offre (MSSANTE...). Sans : toutes les offres."),
    Param(
        "month",
        {"type": "string", "maxLength": 7},
        "Dernier mois de la période d'usage (AAAA-MM ; la période couvre 3 mois). Par défaut : le dernier mois "
        "avec des chiffres pour l'offre.",
    ),
    Param("department", {"type": "string", "maxLength": 3}, "Code du département. Par défaut : ceux de la région."),
]


def _row(row, department: bool = True) -> dict:
    out = row.as_dict()
    if not department:
        out["department"] = None
    return out


@operation(
    bp,
    "/indicators/deployment",
    "GET",
    summary="Déploiement et usage des services",
    tag="Indicateurs",
    ok=(200, "DeploymentIndicators"),
    params=PARAMS,
    errors=(422,),
    description="Par offre et par département : structures éligibles ouvertes, celles au statut « déployé » ou "
    "au-delà (deployment_rate) et celles avec un usage au-dessus de zéro sur les 3 mois de la période "
    "(active_rate). Les taux sont entre 0 et 1, null quand aucune structure n'est éligible.",
)
def deployment_indicators():
    args = query_args(PARAMS)
    errors = {}
    offers = offers_followed()
    if args["offer"]:
        offer = offer_by_code(args["offer"])
        if offer is None or not offer.active:
            errors["offer"] = "Offre inconnue."
        offers = [offer]
    month = None
    if args["month"]:
        month = parse_month(args["month"])
        if month is None:
            errors["month"] = "Mois attendu au format AAAA-MM."
    departments = None
    if args["department"]:
        code = args["department"].strip().upper()
        if code not in region_department_codes():
            errors["department"] = "Département inconnu ou hors de la région."
        departments = [code]
    if errors:
        raise ApiError(422, "Paramètres invalides.", errors)
    data = []
    for offer, figures in zip(offers, offers_figures(offers, month, departments), strict=True):
        data.append(
            {
                "offer_id": offer.id,
                "offer": offer.code,
                "label": offer.label,
                "start": figures.start.strftime("%Y-%m") if figures.start else None,
                "end": figures.end.strftime("%Y-%m") if figures.end else None,
                "departments": [_row(r) for r in figures.rows],
                "total": _row(figures.total, department=False),
            }
        )
    return jsonify({"data": data})
