from flask import Blueprint, current_app, jsonify, redirect, send_from_directory, url_for
from flask_login import current_user, login_required
from sqlalchemy import text

from crm.extensions import db

bp = Blueprint("core", __name__)


@bp.route("/")
@login_required
def home():
    """Managers land on their indicators; the others on the structures they work with."""
    if current_user.role == "manager":
        return redirect(url_for("indicators.manager"))
    return redirect(url_for("structures.index"))


@bp.route("/sante")
def health():
    """Liveness probe for load balancers: the database answers."""
    db.session.execute(text("SELECT 1"))
    return jsonify({"status": "ok"})


@bp.route("/favicon.ico")
def favicon():
    """Browsers ask for it on every site, whatever the page says."""
    return send_from_directory(current_app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon",
                               max_age=86400)
