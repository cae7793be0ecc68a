"""Administration: "Règles automatiques", each workflow rule with its switch, settings and last runs."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm.accounts.permissions import admin_required
from crm.platform.extensions import db
from crm.platform.forms import Form
from crm.platform.validation import ValidationFailed
from workflows import services

bp = Blueprint("workflow_rules", __name__, url_prefix="/admin/regles")


def _rule(rule_name: str):
    rule = services.find_rule(rule_name)
    if rule is None:
        abort(404)
    return rule


@bp.route("/")
@admin_required
def index():
    return render_template("admin/rules.html", views=services.rule_views(), form=Form())


def _show(rule, *, errors: dict | None = None, values: dict | None = None, status: int = 200):
    view = services.rule_view(rule)
    return render_template(
        "admin/rule.html",
        view=view,
        runs=services.recent_runs(rule),
        form=Form(),
        errors=errors or {},
        values=values or view.settings,
    ), status


@bp.route("/<rule_name>")
@admin_required
def show(rule_name: str):
    return _show(_rule(rule_name))


@bp.route("/<rule_name>/activation", methods=["POST"])
@admin_required
def toggle(rule_name: str):
    rule = _rule(rule_name)
    if not Form().validate_on_submit():
        abort(400)
    enabled = request.form.get("enabled") == "1"
    if services.set_enabled(rule, enabled, user_id=current_user.id):
        flash(f"Règle « {rule.label} » {'activée' if enabled else 'désactivée'}.", "success")
    else:
        flash(f"La règle « {rule.label} » était déjà {'active' if enabled else 'désactivée'}.", "info")
    if request.form.get("next") == "index":  # switched from the list
        return redirect(url_for("workflow_rules.index"))
    return redirect(url_for("workflow_rules.show", rule_name=rule.name))


@bp.route("/<rule_name>/reglages", methods=["POST"])
@admin_required
def settings(rule_name: str):
    rule = _rule(rule_name)
    if not Form().validate_on_submit():
        abort(400)
    values = {setting.name: (request.form.get(setting.name) or "")[:20] for setting in rule.settings}
    try:
        changed = services.update_settings(rule, values, user_id=current_user.id)
    except ValidationFailed as error:
        db.session.rollback()
        return _show(rule, errors=error.errors, values=values, status=422)
    flash("Réglages enregistrés." if changed else "Réglages inchangés.", "success" if changed else "info")
    return redirect(url_for("workflow_rules.show", rule_name=rule.name))
