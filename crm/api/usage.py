"""Usage figures pushed by a service (its statistics): ``POST /api/v1/usage``.

Each figure names its structure by FINESS ET or SIRET, a month and a value; the valid ones are written in one
transaction (one row per structure, offer and month: sending the same figures again changes nothing), the
others come back in ``rejects`` with their rank and reason.
"""

from __future__ import annotations

from flask import jsonify

from crm.api.registry import ApiError, json_body, operation
from crm.api.routes import api_user, bp
from crm.deployment.services import offer_by_code
from crm.deployment.usage import push_usage

TAG = "Usage des services"
WRITE_ROLES = ("admin",)


@operation(
    bp,
    "/usage",
    "POST",
    summary="Envoyer des chiffres d'usage",
    tag=TAG,
    ok=(200, "UsageResult"),
    body="UsageInput",
    errors=(403,),
    description="Chiffres d'usage d'une offre par structure (finess ou siret) et par mois (AAAA-MM). "
    "Les chiffres valides sont écrits en une transaction, les autres rendus dans rejects avec leur rang. "
    "Un chiffre au-dessus de zéro passe la structure en « usage actif ». "
    "Comptes administrateurs (le compte du service).",
)
def post_usage():
    user = api_user()
    if user.role not in WRITE_ROLES:
        raise ApiError(403, "Seul un compte administrateur (celui du service) envoie des chiffres d'usage.")
    body = json_body("UsageInput")
    offer = offer_by_code(body.get("offer") or "")
    if offer is None:
        raise ApiError(422, "Données invalides.", {"offer": "Offre inconnue."})
    figures = body.get("figures") or []
    if not figures:
        raise ApiError(422, "Données invalides.", {"figures": "Au moins un chiffre est attendu."})
    summary = push_usage(offer, figures, user_id=user.id, origin="api")
    return jsonify(summary.as_dict())
