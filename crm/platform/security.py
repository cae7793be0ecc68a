"""HTTP security headers, safe redirects, input any database can store, masked personal links in the logs.

The templates' permission helpers are the accounts package's (crm/accounts/routes.py)."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from flask import render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from crm.platform.accessibility import ACCESSIBILITY_STATUS
from crm.platform.errors import json_error, wants_json


def is_safe_redirect(target: str | None) -> bool:
    """Only same-site relative paths are followed after login."""
    if not target:
        return False
    parts = urlsplit(target)
    return (
        not parts.scheme
        and not parts.netloc
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
    )


MAX_ID = 2**31 - 1
HSTS_MAX_AGE = 365 * 24 * 3600


class BoundedIntConverter(IntegerConverter):
    """``<int:id>`` that 404s beyond a 32-bit id instead of overflowing the database driver."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def _invalid_text(value) -> str | None:
    """Why a string in ``value`` cannot be stored, if one cannot: a NUL (PostgreSQL refuses it) or a
    lone surrogate (JSON's ``"\\ud800"`` decodes to one; no database nor email encodes it)."""
    if isinstance(value, str):
        if "\x00" in value:
            return "La requête contient un caractère invalide (octet nul)."
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "La requête contient un caractère invalide (demi-caractère Unicode isolé, par exemple \\ud800)."
        return None
    if isinstance(value, dict):
        return next((r for k, v in value.items() if (r := _invalid_text(k) or _invalid_text(v))), None)
    if isinstance(value, list):
        return next((r for v in value if (r := _invalid_text(v))), None)
    return None


# The pages a personal secret opens: a registrant's links (crm/events/registration/routes.py cancel,
# followup/survey_routes.py answer) and a staff member's calendar feed (crm/events/calendar_routes.py).
PERSONAL_PATH = re.compile(r"(/e/(?:annuler|avis)/|/calendrier/personnel/)[^\s/?\"]+")
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access")
# What stands for a personal link's token wherever it is kept: the access logs here, the stored copy of the
# email that carried it (crm/mail/personal_links.py, which writes it there).
PERSONAL_LINK_PLACEHOLDER = "JETON-PERSONNEL-MASQUE"


class MaskPersonalLinks(logging.Filter):
    """Access logs print each request's path: the token of a personal link in it is masked, as in the
    stored copy of the email that carried it (crm/mail/personal_links.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = PERSONAL_PATH.sub(lambda match: match.group(1) + PERSONAL_LINK_PLACEHOLDER, message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


class NoSessionUnderApi(SecureCookieSessionInterface):
    """The JSON API authenticates by bearer token only: under ``/api/`` no session cookie is read
    (verifying its signature on every call was wasted work) nor ever set."""

    def open_session(self, app, request):
        if request.path.startswith("/api/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def register(app) -> None:
    app.url_map.converters["int"] = BoundedIntConverter
    # The app's own error log names the path of a request that failed: masked there too.
    for access_logger in [*(logging.getLogger(name) for name in ACCESS_LOGGERS), app.logger]:
        if not any(isinstance(f, MaskPersonalLinks) for f in access_logger.filters):
            access_logger.addFilter(MaskPersonalLinks())
    app.session_interface = NoSessionUnderApi()
    proxies = app.config.get("CRM_PROXY_COUNT", 0)
    if proxies:
        # Behind a reverse proxy, the client address (login throttling) and scheme come from X-Forwarded-*.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)

    @app.before_request
    def refuse_nul_bytes():
        """No text we store may hold NUL or a lone surrogate: answer 400 with the reason, never 500."""
        message = (
            next((r for v in request.args.values() if (r := _invalid_text(v))), None)
            or next((r for v in request.form.values() if (r := _invalid_text(v))), None)
            or _invalid_text(request.path)
        )
        if message is None and request.is_json:
            try:
                message = _invalid_text(request.get_json(silent=True))
            except RecursionError:
                # Nesting deeper than the parser (or this walk) can follow: not a body we accept.
                message = "JSON invalide (imbrication trop profonde)."
                return json_error(400, message) if wants_json() else (message, 400)
        if message:
            if wants_json():
                return json_error(400, message)
            return render_template("errors/error.html", status=400, message=message), 400

    @app.after_request
    def headers(response):
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'self'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if app.config.get("CRM_ENV") == "production":
            # Production is served over HTTPS only: browsers refuse a downgrade to HTTP for a year.
            response.headers.setdefault("Strict-Transport-Security", f"max-age={HSTS_MAX_AGE}")
        if request.endpoint != "static" and current_user.is_authenticated:
            # What a signed-in user is shown (pages, exports, API answers) holds personal data: no browser
            # cache or proxy keeps it, and "Back" after logging out does not show it again. Static files
            # and what the public sees stay cacheable.
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.context_processor
    def organisation():
        return {
            "organisation_name": app.config["CRM_ORGANISATION_NAME"],
            # The footer's "Accessibilité : …" mention (RGAA), from the statement (crm/pages/accessibility.py).
            "accessibility_status": ACCESSIBILITY_STATUS,
        }
