"""HTTP security headers, safe redirects, and the template helpers for permissions."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask_login import current_user

from crm.accounts import permissions


def is_safe_redirect(target: str | None) -> bool:
    """Only same-site relative paths are followed after login."""
    if not target:
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//") \
        and "\\" not in target


def register(app) -> None:
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
        return response

    @app.context_processor
    def permission_helpers():
        return {
            "can_edit_structure": lambda s: permissions.can_edit_structure(current_user, s),
            "can_create_structure": lambda: permissions.can_create_structure(current_user),
            "can_delete_structure": lambda: permissions.can_delete_structure(current_user),
            "is_admin": lambda: permissions.is_admin(current_user),
            "organisation_name": app.config["CRM_ORGANISATION_NAME"],
        }
