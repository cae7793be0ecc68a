"""Error pages in French for the UI, JSON errors for the API."""
from __future__ import annotations

from flask import jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

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
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or (
        request.accept_mimetypes.best == "application/json"
    )


def json_error(status: int, message: str | None = None, fields: dict | None = None):
    body = {"error": {"status": status, "message": message or MESSAGES.get(status, "Erreur.")}}
    if fields:
        body["error"]["fields"] = fields
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
        if wants_json():
            return json_error(status, message)
        return render_template("errors/error.html", status=status, message=message), status

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return json_error(500)
        return render_template("errors/error.html", status=500, message=MESSAGES[500]), 500
