"""The home page: where each role lands after logging in (endpoint ``core.home``, URL /)."""

from __future__ import annotations

from flask import redirect, url_for
from flask_login import current_user, login_required

from crm.platform.routes import bp


@bp.route("/")
@login_required
def home():
    """Managers land on their indicators; the others on the structures they work with."""
    if current_user.role == "manager":
        return redirect(url_for("indicators.manager"))
    return redirect(url_for("structures.index"))
