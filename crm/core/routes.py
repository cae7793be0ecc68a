from flask import Blueprint, jsonify, redirect, url_for
from flask_login import login_required
from sqlalchemy import text

from crm.extensions import db

bp = Blueprint("core", __name__)


@bp.route("/")
@login_required
def home():
    return redirect(url_for("structures.index"))


@bp.route("/sante")
def health():
    """Liveness probe for load balancers: the database answers."""
    db.session.execute(text("SELECT 1"))
    return jsonify({"status": "ok"})
