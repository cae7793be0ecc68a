from flask import Blueprint, current_app, jsonify, send_from_directory
from sqlalchemy import text

from crm.platform.extensions import db

bp = Blueprint("core", __name__)


@bp.route("/sante")
def health():
    """Liveness probe for load balancers: the database answers."""
    db.session.execute(text("SELECT 1"))
    return jsonify({"status": "ok"})


@bp.route("/favicon.ico")
def favicon():
    """Browsers ask for it on every site, whatever the page says."""
    return send_from_directory(
        current_app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon", max_age=86400
    )
