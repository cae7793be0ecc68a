"""Error pages in French for the UI, JSON errors for the API."""

from __future__ import annotations

from flask import jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from crm.platform.extensions import db

MESSAGES = {
    400: "Requête invalide.",
    401: "Authentification requise.",
    403: "Vous n'avez pas les droits nécessaires pour cette action.",
    404: "Page introuvable.",
    405: "Méthode non autorisée.",
    409: "Conflit avec l'état actuel de la ressource.",
    413: "Le fichier envoyé est trop volumineux.",
    422: "Données invalides.",
    429: "Trop de requêtes. Réessayez dans quelques minutes.",
    500: "Une erreur interne est survenue. L'équipe technique a été prévenue.",
    503: "La base de données vient d'être indisponible. Réessayez dans un instant.",
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or (request.accept_mimetypes.best == "application/json")


# Under /api/ the wording speaks of resources and request bodies, not of pages and files.
API_MESSAGES = {
    404: "Ressource introuvable.",
    405: "Méthode non autorisée sur cette ressource.",
    413: "Corps de requête trop volumineux.",
}


def json_error(status: int, message: str | None = None, fields: dict | None = None, extra: dict | None = None):
    """``{"error": {"status", "message", "fields"}}``: ``fields`` maps each refused field to a French message."""
    body = {
        "error": {
            "status": status,
            "message": message or MESSAGES.get(status, "Erreur."),
            "fields": fields or {},
            **(extra or {}),
        }
    }
    return jsonify(body), status


def register(app) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        message = "Le formulaire a expiré ou son jeton de sécurité est invalide. Rechargez la page et recommencez."
        if wants_json():
            return json_error(400, message)
        return render_template("errors/error.html", status=400, message=message), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        status = error.code or 500
        if status == 401 and not wants_json():
            return redirect(url_for("accounts.login", next=request.full_path if request.method == "GET" else None))
        message = MESSAGES.get(status, error.description)
        if request.path.startswith("/api/"):
            message = API_MESSAGES.get(status, message)
        if wants_json():
            response, status = json_error(status, message)
            if status == 405 and getattr(error, "valid_methods", None):
                response.headers["Allow"] = ", ".join(error.valid_methods)
            return response, status
        return render_template("errors/error.html", status=status, message=message), status

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        db.session.rollback()  # the error page reads the user: the failed transaction must not block it
        if wants_json():
            return json_error(500)
        return render_template("errors/error.html", status=500, message=MESSAGES[500]), 500

    @app.errorhandler(DBAPIError)
    def database_error(error: DBAPIError):
        """A connection dropped mid-request (server restarted): 503, the pool has already replaced it."""
        if not error.connection_invalidated:
            return unexpected(error)
        db.session.rollback()
        app.logger.warning("Database connection lost on %s %s: %s", request.method, request.path, error.orig)
        if wants_json():
            response, status = json_error(503)
        else:
            response, status = render_template("errors/error.html", status=503, message=MESSAGES[503]), 503
        return response, status, {"Retry-After": "1"}
