"""Registrants left without a structure, for an animator to resolve."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from crm.accounts.permissions import roles_required
from crm.events.followup import matching
from crm.events.followup.forms import ResolveForm
from crm.events.forms import StatusForm
from crm.events.models import Event, Registration
from crm.platform.extensions import db
from crm.platform.security import is_safe_redirect
from crm.platform.validation import ValidationFailed, as_id
from crm.platform.web import get_or_404
from crm.referential.services import department_choices, departments_for_select

bp = Blueprint("event_matching", __name__, url_prefix="/evenements/rapprochement")

RESOLVERS = ("animateur", "organisateur", "admin")
# Contacts are the CRM's: an organiser attaches registrants to structures but creates no contact.
CONTACT_CREATORS = ("animateur", "admin")


def _back(default: str):
    target = request.form.get("next") or ""
    return redirect(target if target and is_safe_redirect(target) else default)


@bp.route("")
@login_required
@roles_required(*RESOLVERS)
def index():
    event_id = as_id(request.args.get("evenement"))
    event = db.session.get(Event, event_id) if event_id else None
    department = request.args.get("departement") or None
    departments = departments_for_select()
    if department not in {d.code for d in departments}:
        department = None
    missing = "contact" if request.args.get("vue") == "contacts" else "structure"
    page = matching.unmatched_registrations(
        event_id=event.id if event else None,
        department=department,
        missing=missing,
        page=as_id(request.args.get("page")) or 1,
    )
    return render_template(
        "events/followup/matching.html",
        page=page,
        event=event,
        department=department,
        departments=department_choices(departments=departments),
        missing=missing,
        form=ResolveForm(),
        action_form=StatusForm(),
        can_create_contact=lambda r: matching.can_create_contact(current_user, r),
    )


@bp.route("/evenement/<int:event_id>", methods=["POST"])
@login_required
@roles_required(*RESOLVERS)
def match_event(event_id: int):
    event = get_or_404(Event, event_id)
    if not StatusForm().validate_on_submit():
        abort(400)
    summary = matching.match_event(event, user_id=current_user.id)
    flash(
        f"Rapprochement : {summary.contacts} inscrit(s) reconnu(s) comme contacts, {summary.structures} "
        f"rattaché(s) à une structure, {summary.unmatched} restent à rattacher.",
        "success",
    )
    return redirect(url_for("event_matching.index", evenement=event.id))


@bp.route("/inscription/<int:registration_id>/structure", methods=["POST"])
@login_required
@roles_required(*RESOLVERS)
def resolve(registration_id: int):
    registration = get_or_404(Registration, registration_id)
    form = ResolveForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        matching.resolve_structure(registration, as_id(form.structure_id.data), user=current_user)
    except ValidationFailed as error:
        db.session.rollback()
        flash(f"{registration.display_name} : {error.errors['structure_id']}", "error")
    else:
        flash(f"{registration.display_name} est rattaché(e) à {registration.structure.name}.", "success")
    return _back(url_for("event_matching.index"))


@bp.route("/inscription/<int:registration_id>/contact", methods=["POST"])
@login_required
@roles_required(*CONTACT_CREATORS)
def create_contact(registration_id: int):
    registration = get_or_404(Registration, registration_id)
    if not StatusForm().validate_on_submit():
        abort(400)
    try:
        contact = matching.create_contact(registration, user=current_user)
    except ValidationFailed as error:
        db.session.rollback()
        flash(" ".join(error.errors.values()), "error")
        return _back(url_for("event_matching.index"))
    flash(f"{contact.display_name} est maintenant un contact de {registration.structure.name}.", "success")
    return _back(url_for("structures.show", structure_id=registration.structure_id))
