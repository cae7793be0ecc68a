"""The "Bilan annuel" page: choose a year and a department, read the sections, write the notes, download
the XLSX workbook or the PDF report (the files ``crm report yearly`` writes)."""

from __future__ import annotations

import io

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user

from crm.accounts.permissions import roles_required
from crm.indicators.yearly import service
from crm.indicators.yearly.notes import save_notes
from crm.indicators.yearly.pack import SECTIONS, build_pack, display
from crm.platform.dates import local_today
from crm.platform.validation import ValidationFailed
from crm.referential.services import departments_for_select

bp = Blueprint("yearly", __name__)
WRITERS = ("manager", "admin")


@bp.app_template_global("display")
def display_cell(value, kind: str) -> str:
    return display(value, kind)


def _allowed() -> tuple[str, ...] | None:
    """The departments an animator may ask for (theirs, one at a time); None: any, or the region."""
    return tuple(sorted(current_user.department_codes)) if current_user.role == "animateur" else None


def _request(args, fmt=None):
    allowed = _allowed()
    department = args.get("departement")
    if allowed is not None and not department and allowed:
        department = allowed[0]
    return service.parse_request(args.get("annee") or local_today().year, department, fmt, allowed)


def _choices():
    allowed = _allowed()
    departments = [d for d in departments_for_select(region_only=True) if allowed is None or d.code in allowed]
    this_year = local_today().year
    return {"departments": departments, "years": list(range(this_year, this_year - 6, -1)), "region": allowed is None}


@bp.route("/bilan-annuel")
@roles_required("animateur", *WRITERS)
def page():
    try:
        year_number, department = _request(request.args)
    except ValidationFailed as error:
        return render_template("indicators/yearly.html", errors=error.errors, pack=None, **_choices()), 400
    return render_template(
        "indicators/yearly.html",
        errors={},
        pack=build_pack(year_number, department),
        can_write=current_user.role in WRITERS,
        **_choices(),
    )


@bp.route("/bilan-annuel/bilan.<fmt>")
@roles_required("animateur", *WRITERS)
def download(fmt: str):
    try:
        year_number, department = _request(request.args, fmt)
    except ValidationFailed as error:
        return render_template("indicators/yearly.html", errors=error.errors, pack=None, **_choices()), 400
    response = send_file(
        io.BytesIO(service.render(year_number, department, fmt)),
        mimetype=service.FORMATS[fmt],
        as_attachment=True,
        download_name=service.filename(year_number, department, fmt),
        max_age=0,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/bilan-annuel/notes", methods=["POST"])
@roles_required(*WRITERS)
def notes():
    try:
        year_number, department = _request(request.form)
        count = save_notes(
            year_number,
            department,
            {key: request.form.get(f"note-{key}", "") for key in SECTIONS if f"note-{key}" in request.form},
            SECTIONS,
            user=current_user,
        )
    except ValidationFailed as error:
        return render_template("indicators/yearly.html", errors=error.errors, pack=None, **_choices()), 400
    flash("Commentaires enregistrés." if count else "Aucun commentaire modifié.", "success")
    params = {"annee": year_number, "departement": department}
    return redirect(url_for("yearly.page", **{k: v for k, v in params.items() if v}) + "#commentaires")
