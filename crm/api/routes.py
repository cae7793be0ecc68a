"""JSON API v1: bearer-token authentication, JSON errors. Endpoints grow with each domain."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from flask_login import current_user

from crm.accounts.services import user_for_token

from crm.core.errors import json_error
from crm.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# Token-authenticated only (no session cookie is honoured here), so CSRF does not apply.
csrf.exempt(bp)


@bp.before_request
def require_token():
    """Authenticate by bearer token only: a browser session cookie is ignored on the API."""
    header = request.headers.get("Authorization", "")
    user = user_for_token(header[7:].strip()) if header.startswith("Bearer ") else None
    if user is None:
        return json_error(401, "Jeton d'API manquant ou invalide (en-tête Authorization: Bearer <jeton>).")
    g._login_user = user  # Flask-Login's per-request user: current_user is the token's owner


@bp.route("/me")
def me():
    return jsonify({"id": current_user.id, "email": current_user.email, "role": current_user.role,
                    "departments": sorted(current_user.department_codes)})
