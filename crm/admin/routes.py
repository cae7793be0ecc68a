"""Administration: FINESS import uploads and their progress."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf.file import FileAllowed, FileField, FileRequired
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import select
from wtforms import BooleanField
from wtforms.validators import DataRequired

from crm.accounts.permissions import admin_required
from crm.platform.extensions import db
from crm.platform.forms import Form
from crm.platform.queue import QueueUnavailable, redis_connection
from crm.platform.uploads import accepts_upload
from crm.structures import imports
from crm.structures.models import ImportRun

bp = Blueprint("admin", __name__, url_prefix="/admin")


class FinessUploadForm(Form):
    file = FileField(
        "Fichier FINESS (extraction « etalab » des établissements, .csv)",
        validators=[
            FileRequired("Choisissez un fichier."),
            FileAllowed(["csv", "txt"], "Le fichier doit être un .csv ou un .txt."),
        ],
    )
    all_regions = BooleanField("Importer toutes les régions (sinon : la région configurée seulement)")


class ConfirmClosuresForm(Form):
    confirm = BooleanField(
        "Je confirme la fermeture de ces structures",
        validators=[DataRequired("Cochez la case pour confirmer les fermetures.")],
    )


@bp.route("/")
@admin_required
def index():
    return render_template("admin/index.html")


@bp.route("/imports", methods=["GET", "POST"])
@accepts_upload("CRM_MAX_UPLOAD_BYTES", "admin")
@admin_required
def finess_imports():
    form = FinessUploadForm()
    if form.validate_on_submit():
        run = imports.start_import(form.file.data, all_regions=form.all_regions.data, user_id=current_user.id)
        if run.job_id is None:
            flash(
                "La file de traitement est momentanément indisponible : l'import est enregistré et "
                "pourra être relancé depuis cette page.",
                "error",
            )
        else:
            flash("Import lancé.", "success")
        return redirect(url_for("admin.finess_import", run_id=run.id))
    runs = db.session.scalars(select(ImportRun).order_by(ImportRun.id.desc()).limit(50)).all()
    return render_template("admin/imports.html", form=form, runs=runs), 422 if form.errors else 200


def _run(run_id: int) -> ImportRun:
    run = db.session.get(ImportRun, run_id)
    if run is None:
        abort(404)
    return run


def _job(run: ImportRun):
    """The run's RQ job, or None (no job, Redis down, job expired): progress is best effort."""
    if not run.job_id:
        return None

    try:
        return Job.fetch(run.job_id, connection=redis_connection())
    except (NoSuchJobError, QueueUnavailable, RedisError):
        return None


def _job_state(run: ImportRun) -> str | None:
    job = _job(run)
    try:
        return job.get_status(refresh=True).value if job is not None else None
    except Exception:  # noqa: BLE001  (a vanished job reads as no job)
        return None


def _progress(run: ImportRun) -> dict | None:
    if run.status not in ("en_attente", "en_cours"):
        return None
    job = _job(run)
    try:
        return job.get_meta(refresh=True).get("progress") if job is not None else None
    except Exception:  # noqa: BLE001
        return None


def _liveness(run: ImportRun) -> tuple[bool | None, bool]:
    """(heartbeat says alive, can be relaunched) for the run's page and its polled state."""
    alive = imports.is_alive(run) if run.status == "en_cours" else None
    return alive, imports.can_relaunch(run, _job_state(run), alive)


@bp.route("/imports/<int:run_id>")
@admin_required
def finess_import(run_id: int):
    run = _run(run_id)
    alive, can_relaunch = _liveness(run)
    return render_template(
        "admin/import.html",
        run=run,
        progress=_progress(run),
        relaunch=Form(),
        can_relaunch=can_relaunch,
        alive=alive,
        confirm=ConfirmClosuresForm(),
        can_confirm=imports.can_confirm(run),
    )


@bp.route("/imports/<int:run_id>/etat")
@admin_required
def finess_import_state(run_id: int):
    run = _run(run_id)
    alive, can_relaunch = _liveness(run)
    return jsonify(
        {
            "id": run.id,
            "status": run.status,
            "progress": _progress(run),
            "summary": run.summary,
            "error": run.error,
            "alive": alive,
            "can_relaunch": can_relaunch,
        }
    )


@bp.route("/imports/<int:run_id>/confirmer", methods=["POST"])
@admin_required
def confirm_import_closures(run_id: int):
    run = _run(run_id)
    form = ConfirmClosuresForm()
    if run.status != "refusé":
        flash("Cet import n'attend plus de confirmation.", "error")
    elif not imports.can_confirm(run):
        flash(
            "Cet import ne peut pas être confirmé ici : relancez la commande avec --confirm-closures, "
            "ou importez à nouveau le fichier."
            if run.origin == "cli"
            else "Le fichier de cet import n'est plus disponible : importez-le à nouveau.",
            "error",
        )
    elif not form.validate_on_submit():
        flash(" ".join(e for errors in form.errors.values() for e in errors), "error")
    elif not imports.confirm_closures(run, current_user.id):
        flash("Cet import n'attend plus de confirmation.", "error")
    elif run.job_id is None:
        flash(
            "Fermetures confirmées, mais la file de traitement est momentanément indisponible : l'import "
            "pourra être relancé depuis cette page.",
            "error",
        )
    else:
        flash("Fermetures confirmées : import lancé.", "success")
    return redirect(url_for("admin.finess_import", run_id=run.id))


@bp.route("/imports/<int:run_id>/relancer", methods=["POST"])
@admin_required
def relaunch_import(run_id: int):
    run = _run(run_id)
    if not _liveness(run)[1]:
        flash("Cet import est déjà en file ou en cours : il ne peut pas être relancé.", "error")
    else:
        imports.relaunch(run)
        flash(
            "Import relancé." if run.job_id else "La file de traitement est toujours indisponible.",
            "success" if run.job_id else "error",
        )
    return redirect(url_for("admin.finess_import", run_id=run.id))
