"""The day itself: the check-in screen (a tablet), its name search, late walk-ins, the sign-in sheet,
and a registration's status change (cancel, present, absent, excused) the screen and the event page post.

On the ``events`` blueprint (crm.events.blueprint): ``events.checkin``, ``events.registration_status``...
"""

from __future__ import annotations

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from crm.events import queries
from crm.events.blueprint import bp, event_or_404, reader_required, require_manager
from crm.events.forms import RegistrationForm, StatusForm, apply_errors, department_choices, registration_data
from crm.events.models import Registration
from crm.events.registration import registrations
from crm.events.registration.capacity import registration_counts
from crm.events.registration.checkin import before_the_day_error, finish_check_in, mark_attendance
from crm.platform.errors import json_error, wants_json
from crm.platform.extensions import db
from crm.platform.validation import ValidationFailed
from crm.platform.web import get_or_404


def registration_json(registration: Registration):
    """The registration after a change, with the event's fresh counts so the screen updates at once."""
    return jsonify({**_item(registration), "counts": registration_counts(registration.event_id)})


def _item(registration: Registration) -> dict:
    return {
        "id": registration.id,
        "name": registration.display_name,
        "structure": registration.structure_label,
        "function": registration.function or "",
        "status": registration.status,
        "status_label": registration.status_label,
        "url": url_for("events.registration_status", event_id=registration.event_id, registration_id=registration.id),
    }


def _walk_in_form() -> RegistrationForm:
    form = RegistrationForm(prefix="arrivee")
    form.department_code.choices = department_choices()
    return form


def _page(event, form=None, status: int = 200):
    return render_template(
        "events/checkin.html",
        event=event,
        counts=registration_counts(event.id),
        form=form or _walk_in_form(),
        action_form=StatusForm(),
        not_yet=before_the_day_error(event),
    ), status


@bp.route("/<int:event_id>/accueil")
@reader_required
def checkin(event_id: int):
    require_manager()
    return _page(event_or_404(event_id))


@bp.route("/<int:event_id>/accueil/recherche")
@reader_required
def checkin_search(event_id: int):
    """JSON: the registrants whose name matches what is typed (not the cancelled ones)."""
    require_manager()
    event = event_or_404(event_id)
    found = queries.search_registrations(event.id, (request.args.get("q") or "")[:100])
    return jsonify({"results": [_item(r) for r in found], "counts": registration_counts(event.id)})


@bp.route("/<int:event_id>/accueil/arrivee", methods=["POST"])
@reader_required
def walk_in(event_id: int):
    """A late walk-in: registered by the team and marked present at once."""
    require_manager()
    event = event_or_404(event_id)
    form = _walk_in_form()
    if not form.validate_on_submit():
        abort(400)
    if message := before_the_day_error(event):  # before registering: nothing half-written
        form.form_errors.append(message)
        return _page(event, form, 422)
    try:
        registration, _ = registrations.register(
            event, registration_data(form), source="back_office", user_id=current_user.id
        )
        mark_attendance(registration, "present", user_id=current_user.id)
    except ValidationFailed as error:
        db.session.rollback()
        apply_errors(form, error.errors)
        return _page(event, form, 422)
    except registrations.RegistrationClosed as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for("events.checkin", event_id=event.id))
    flash(f"{registration.display_name} ajouté(e) et marqué(e) présent(e).", "success")
    return redirect(url_for("events.checkin", event_id=event.id))


@bp.route("/<int:event_id>/accueil/cloturer", methods=["POST"])
@reader_required
def finish_checkin(event_id: int):
    """Everyone not marked is absent; the excused stay excused."""
    require_manager()
    event = event_or_404(event_id)
    if not StatusForm().validate_on_submit():
        abort(400)
    try:
        count = finish_check_in(event, user_id=current_user.id)
    except ValidationFailed as error:
        db.session.rollback()
        if wants_json():
            return json_error(422, error.errors["status"])
        flash(error.errors["status"], "error")
        return redirect(url_for("events.checkin", event_id=event.id))
    flash(
        f"Accueil clôturé : {count} personne{'s' if count > 1 else ''} notée{'s' if count > 1 else ''} absente"
        f"{'s' if count > 1 else ''}.",
        "success",
    )
    return redirect(url_for("events.show", event_id=event.id))


@bp.route("/<int:event_id>/emargement")
@reader_required
def sign_in_sheet(event_id: int):
    """The printable sign-in sheet: everyone expected (registered or already present), by name."""
    event = event_or_404(event_id)
    rows = [r for r in queries.registrations_of(event.id) if r.status in ("inscrit", "present", "excuse")]
    return render_template("events/sign_in_sheet.html", event=event, rows=rows)


@bp.route("/<int:event_id>/inscriptions/<int:registration_id>/statut", methods=["POST"])
@reader_required
def registration_status(event_id: int, registration_id: int):
    """Cancel a registration or note attendance (JSON for the check-in screen, a form elsewhere)."""
    require_manager()
    registration = get_or_404(Registration, registration_id)
    if registration.event_id != event_id:
        abort(404)
    status = request.form.get("status", "")
    try:
        registrations.change_registration_status(registration, status, user_id=current_user.id)
    except ValidationFailed as error:
        db.session.rollback()
        message = error.errors.get("status", "Changement impossible.")
        if wants_json():
            return json_error(422, message, error.errors)
        flash(message, "error")
    else:
        if wants_json():
            return registration_json(registration)
        flash(f"{registration.display_name} : {registration.status_label}.", "success")
    return redirect(url_for("events.show", event_id=event_id) + "#inscriptions")
