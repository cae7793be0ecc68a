from flask import Blueprint, current_app, jsonify, render_template, send_from_directory
from sqlalchemy import text

from crm.platform import accessibility as statement
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


@bp.route("/accessibilite")
def accessibility():
    """The accessibility statement and multi-year plan (RGAA): public, linked from every page's footer."""
    config = current_app.config
    return render_template(
        "public/accessibility.html",
        statement=statement,
        contact=config.get("CRM_ACCESSIBILITY_CONTACT") or config.get("MAIL_FROM"),
        base_url=config.get("CRM_BASE_URL", ""),
    )
