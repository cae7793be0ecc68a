"""JSON API v1: the blueprint, bearer-token authentication, JSON errors.

The endpoints live beside this module, one per domain (structures, activities, events,
pipeline, tasks, indicators); each parses, authorises, calls a service and serialises. The
OpenAPI document (``/api/v1/openapi.json``) is built from their declarations.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from crm.accounts.services import user_for_token
from crm.api import serializers
from crm.api.registry import MAX_BODY_BYTES, ApiError, operation
from crm.platform.concurrency import StaleEdit
from crm.platform.errors import json_error
from crm.platform.extensions import csrf, db
from crm.platform.validation import ValidationFailed

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# Token-authenticated only (no session cookie is honoured here), so CSRF does not apply.
csrf.exempt(bp)

PUBLIC_ENDPOINTS = {"api.openapi"}


@bp.before_request
def require_token():
    """Refuse oversized bodies, then authenticate by bearer token only (a session cookie is ignored)."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return json_error(413, "Corps de requête trop volumineux (1 Mo au plus).")
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    user = user_for_token(token) if token and len(token) < 200 else None
    if user is None:
        response, status = json_error(401, "Jeton d'API manquant ou invalide (en-tête Authorization: Bearer <jeton>).")
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
        return response, status
    g._login_user = user  # Flask-Login's per-request user: current_user is the token's owner
    g.api_user = user


def api_user():
    return g.api_user


@bp.errorhandler(ApiError)
def api_error(error: ApiError):
    db.session.rollback()
    return json_error(error.status, error.message, error.fields, extra=error.extra)


@bp.errorhandler(ValidationFailed)
def validation_failed(error: ValidationFailed):
    """A service's refusal: 422 with a message per field, or 409 for a duplicate FINESS number."""
    db.session.rollback()
    fields = {k: v for k, v in error.errors.items() if k != "__all__"}
    message = error.errors.get("__all__") or "Données invalides."
    if error.existing is not None:
        existing = {"id": error.existing.id, "url": serializers.url("structures", error.existing.id)}
        return json_error(409, "Une structure porte déjà ce numéro FINESS.", fields, extra={"existing": existing})
    return json_error(422, message, fields)


@bp.errorhandler(StaleEdit)
def stale_edit(error: StaleEdit):
    db.session.rollback()
    return json_error(409, str(error))


@operation(bp, "/me", "GET", summary="L'utilisateur du jeton", tag="Compte", ok=(200, "Me"))
def me():
    return jsonify(serializers.me(api_user()))


# The endpoints register themselves on ``bp`` when imported.
from crm.api import (  # noqa: E402,F401
    activities,
    deployment,
    events,
    indicators,
    networks,
    openapi,
    pipeline,
    reference,
    structures,
    targets,
    tasks,
    usage,
)
