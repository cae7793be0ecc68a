"""The targets pages: the grid of a year (indicators × departments and the region), the programmes' grid of
the three CPOM rates, the copy from the previous year, the export and the import.

Everyone logged in reads the targets; managers and admins write them (403 for the others).
"""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from crm.accounts.permissions import roles_required
from crm.platform.exports import FORMATS, export_response
from crm.platform.extensions import db
from crm.platform.validation import ValidationFailed
from crm.referential.models import Programme
from crm.referential.services import departments_for_select
from crm.targets import services
from crm.targets.forms import CopyForm, GridForm, ImportForm
from crm.targets.models import INDICATORS, PROGRAMME_INDICATORS

bp = Blueprint("targets", __name__, url_prefix="/cibles")
reader_required = roles_required(*services.READ_ROLES)


def _year() -> int:
    raw = (request.args.get("annee") or "").strip()
    if not raw:
        return services.current_year()
    if not (raw.isascii() and raw.isdigit()) or not services.MIN_YEAR <= int(raw) <= services.MAX_YEAR:
        abort(404)
    return int(raw)


def _require_writer() -> None:
    if not services.can_write(current_user):
        abort(403)


def french(value: Decimal | None) -> str:
    """12.50 -> "12,5"; 300.00 -> "300"."""
    if value is None:
        return ""
    text = f"{Decimal(value):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", ",")


def _columns() -> list[tuple[str | None, str, str]]:
    """The grid's columns: (department code or None for the region, short label, full label)."""
    return [(None, "Région", "Région")] + [(d.code, d.code, d.label) for d in departments_for_select(region_only=True)]


def _render_grid(year: int, *, rows, programme_id=None, indicator=None, errors=None, submitted=None, status=200):
    values = services.target_values(year)
    columns = _columns()
    cells = {}
    for row_indicator, row_programme in rows:
        for code, _, _ in columns:
            name = services.cell_name(row_indicator, code, row_programme)
            cells[name] = (
                submitted[name]
                if submitted is not None and name in submitted
                else french(values.get((row_indicator, code, row_programme)))
            )
    programmes = list(db.session.scalars(select(Programme).order_by(Programme.number)))
    return (
        render_template(
            "targets/grid.html",
            year=year,
            rows=rows,
            columns=columns,
            cells=cells,
            errors=errors or {},
            indicators=INDICATORS,
            programme_indicators=PROGRAMME_INDICATORS,
            programmes={p.id: p for p in programmes},
            indicator=indicator,
            can_write=services.can_write(current_user),
            form=GridForm(),
            copy_form=CopyForm(),
            import_form=ImportForm(),
            conflicts=services.conflicts_when_copying(year - 1, year),
            previous_count=len(services.target_values(year - 1)),
            cell_name=services.cell_name,
        ),
        status,
    )


def _save(year: int, rows, redirect_to: str):
    _require_writer()
    form = GridForm()
    if not form.validate_on_submit():
        flash("La session du formulaire a expiré : saisissez à nouveau.", "error")
        return redirect(redirect_to)
    columns = _columns()
    cells = {}
    submitted = {}
    for row_indicator, row_programme in rows:
        for code, _, _ in columns:
            name = services.cell_name(row_indicator, code, row_programme)
            raw = request.form.get(name, "")[:40]
            submitted[name] = raw
            cells[(row_indicator, code, row_programme)] = raw
    try:
        summary = services.save_grid(year, cells, user=current_user)
    except ValidationFailed as error:
        db.session.rollback()
        return error.errors, submitted
    flash(summary.text(), "success")
    return None, redirect(redirect_to)


@bp.route("", methods=["GET", "POST"])
@reader_required
def grid():
    year = _year()
    rows = [(code, None) for code in INDICATORS]
    if request.method == "POST":
        errors, outcome = _save(year, rows, url_for("targets.grid", annee=year))
        if errors is None:
            return outcome
        return _render_grid(year, rows=rows, errors=errors, submitted=outcome, status=422)
    return _render_grid(year, rows=rows)


@bp.route("/programmes", methods=["GET", "POST"])
@reader_required
def programmes():
    year = _year()
    indicator = request.args.get("indicateur") or "engagement"
    if indicator not in PROGRAMME_INDICATORS:
        abort(404)
    programme_ids = list(db.session.scalars(select(Programme.id).order_by(Programme.number)))
    rows = [(indicator, pid) for pid in programme_ids]
    if request.method == "POST":
        errors, outcome = _save(year, rows, url_for("targets.programmes", annee=year, indicateur=indicator))
        if errors is None:
            return outcome
        return _render_grid(year, rows=rows, indicator=indicator, errors=errors, submitted=outcome, status=422)
    return _render_grid(year, rows=rows, indicator=indicator)


@bp.route("/copier", methods=["POST"])
@reader_required
def copy():
    _require_writer()
    year = _year()
    form = CopyForm()
    if not form.validate_on_submit():
        flash("La session du formulaire a expiré : recommencez.", "error")
    else:
        summary = services.copy_year(year - 1, year, user=current_user, overwrite=bool(form.overwrite.data))
        if not summary.changed and not summary.skipped and not summary.unchanged:
            flash(f"Aucune cible en {year - 1} : rien à copier.", "warning")
        else:
            flash(f"Copie depuis {year - 1}. " + summary.text(), "success")
    return redirect(url_for("targets.grid", annee=year))


@bp.route("/export.<fmt>")
@reader_required
def export(fmt: str):
    if fmt not in FORMATS:
        abort(404)
    year = _year()
    return export_response(services.export_table(year), fmt, f"cibles-{year}")


@bp.route("/import", methods=["POST"])
@reader_required
def import_():
    _require_writer()
    year = _year()
    form = ImportForm()
    upload = request.files.get("file")
    if not form.validate_on_submit():
        flash("La session du formulaire a expiré : recommencez.", "error")
    elif upload is None or not upload.filename:
        flash("Choisissez un fichier CSV ou XLSX.", "error")
    else:
        try:
            summary = services.import_file(upload.read(), upload.filename, user=current_user)
        except services.ImportFailed as failed:
            db.session.rollback()
            shown = failed.errors[:20]
            more = len(failed.errors) - len(shown)
            flash(
                "Import refusé, aucune cible enregistrée. "
                + " ".join(shown)
                + (f" (et {more} autre{'s' if more > 1 else ''} erreur{'s' if more > 1 else ''})" if more > 0 else ""),
                "error",
            )
        else:
            flash("Import terminé. " + summary.text(), "success")
    return redirect(url_for("targets.grid", annee=year))
