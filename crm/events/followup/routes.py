"""After the event: attendance import, survey sending, participant exports.

The event's figures and a series' comparison, on this blueprint too, read the indicators: they are
crm.pages.event_results.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.utils import secure_filename

from crm.accounts.permissions import EVENT_WRITE_ROLES, roles_required
from crm.events.blueprint import event_or_404
from crm.events.followup import attendance, survey
from crm.events.followup.attendance_columns import FIELDS
from crm.events.followup.attendance_import import MAX_REPORT_BYTES, AttendanceFileError, read_attendance_report
from crm.events.followup.exports import participants_table
from crm.events.followup.forms import AttendanceImportForm
from crm.events.forms import StatusForm
from crm.events.models import REGISTRATION_STATUSES
from crm.platform.exports import FORMATS, export_response
from crm.platform.extensions import db
from crm.platform.uploads import accepts_upload
from crm.platform.validation import ValidationFailed

bp = Blueprint("event_followup", __name__, url_prefix="/evenements")


@bp.route("/<int:event_id>/participants.<fmt>")
@login_required
@roles_required(*EVENT_WRITE_ROLES)
def export_participants(event_id: int, fmt: str):
    event = event_or_404(event_id)
    status = request.args.get("statut") or None
    if fmt not in FORMATS or (status is not None and status not in REGISTRATION_STATUSES):
        abort(404)
    name = secure_filename(f"participants-{event.id}-{event.title}")[:80] or f"participants-{event.id}"
    return export_response(participants_table(event, status), fmt, name)


@bp.route("/<int:event_id>/enquete", methods=["POST"])
@login_required
@roles_required(*EVENT_WRITE_ROLES)
def send_survey(event_id: int):
    event = event_or_404(event_id)
    if not StatusForm().validate_on_submit():
        abort(400)
    try:
        sent = survey.send_survey(event, user_id=current_user.id)
    except ValidationFailed as error:
        db.session.rollback()
        flash(error.errors["event"], "error")
    else:
        flash(
            f"Enquête de satisfaction envoyée à {sent} participant(s)."
            if sent
            else "Tous les participants présents ont déjà reçu l'enquête.",
            "success",
        )
    return redirect(url_for("events.show", event_id=event.id))


def _mapping() -> dict[str, str]:
    return {name: value[:200] for name in FIELDS if (value := request.form.get(f"map_{name}", ""))}


def _import_page(event, form, *, report=None, plan=None, error=None, columns=(), status=200):
    return render_template(
        "events/followup/attendance_import.html",
        event=event,
        form=form,
        report=report,
        plan=plan,
        error=error,
        columns=columns,
        fields=FIELDS,
        mapping=_mapping(),
        max_mb=MAX_REPORT_BYTES // (1024 * 1024),
    ), status


@bp.route("/<int:event_id>/presences/import", methods=["GET", "POST"])
@accepts_upload(MAX_REPORT_BYTES + 1024 * 1024, *EVENT_WRITE_ROLES)  # the report and the form around it
@login_required
@roles_required(*EVENT_WRITE_ROLES)
def attendance_import(event_id: int):
    """Upload (preview), change the mapping (preview again), confirm (apply)."""
    event = event_or_404(event_id)
    form = AttendanceImportForm()
    if request.method == "GET":
        return _import_page(event, form, error=attendance.attendance_error(event))
    if not form.validate_on_submit():
        return _import_page(event, form, error="Le formulaire a expiré : rechargez la page et recommencez.", status=400)
    upload = request.files.get(form.report.name)
    if upload is not None and upload.filename:
        data = upload.read(MAX_REPORT_BYTES + 1)
        form.upload_id.data = attendance.store_upload(data) if len(data) <= MAX_REPORT_BYTES else ""
    else:
        data = attendance.load_upload(form.upload_id.data)
        if data is None:
            return _import_page(event, form, error="Choisissez le fichier du rapport de présence.", status=422)
    try:
        report = read_attendance_report(
            data, tool=form.tool.data or "auto", mapping=_mapping(), max_bytes=MAX_REPORT_BYTES
        )
    except AttendanceFileError as failure:
        return _import_page(event, form, error=failure.message, columns=failure.columns, status=422)
    if request.form.get("action") == "confirm":
        try:
            result = attendance.apply_import(
                event, report, add_walk_ins=form.add_walk_ins.data, user_id=current_user.id
            )
        except ValidationFailed as failure:
            db.session.rollback()
            return _import_page(event, form, error=failure.errors["event"], status=409)
        attendance.discard_upload(form.upload_id.data)
        flash(
            f"Présences importées : {result.marked} marqué(s) présent(s), {result.walk_ins} participant(s) "
            f"ajouté(s), {result.unchanged} déjà présent(s), {len(result.unknown)} adresse(s) inconnue(s) "
            "non ajoutée(s).",
            "success",
        )
        return redirect(url_for("events.show", event_id=event.id))
    return _import_page(event, form, report=report, plan=attendance.plan_import(event, report), columns=report.columns)
