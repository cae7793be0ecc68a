"""Administration: usage statistics imports (upload, preview, background job with progress)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf.file import FileAllowed, FileField, FileRequired
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import select
from wtforms import SelectField, SelectMultipleField, StringField
from wtforms.validators import Length

from crm.accounts.permissions import admin_required
from crm.deployment import runs
from crm.deployment.models import OfferDeploymentSettings, UsageImportRun
from crm.deployment.services import active_offers, offer_settings, save_offer_settings
from crm.deployment.usage import FIELDS, UsageFileError, preview
from crm.platform.extensions import db
from crm.platform.forms import Form
from crm.platform.queue import QueueUnavailable, redis_connection
from crm.platform.uploads import accepts_upload
from crm.platform.validation import as_id
from crm.referential.models import Category, Offer, Sector

bp = Blueprint("usage_admin", __name__, url_prefix="/admin/usages")


class UsageUploadForm(Form):
    offer_id = SelectField("Offre", choices=[], validate_choice=False)
    file = FileField(
        "Fichier de statistiques (.csv : FINESS ou SIRET, mois, valeur ; séparateur « ; » ou « , »)",
        validators=[
            FileRequired("Choisissez un fichier."),
            FileAllowed(["csv", "txt"], "Le fichier doit être un .csv."),
        ],
    )


class MappingForm(Form):
    identifier = SelectField(FIELDS["identifier"], choices=[], validate_choice=False)
    month = SelectField(FIELDS["month"], choices=[], validate_choice=False)
    value = SelectField(FIELDS["value"], choices=[], validate_choice=False)


def _run(run_id: int) -> UsageImportRun:
    run = db.session.get(UsageImportRun, run_id)
    if run is None:
        abort(404)
    return run


def _progress(run: UsageImportRun) -> dict | None:
    if run.status not in ("en_attente", "en_cours") or not run.job_id:
        return None
    try:
        return Job.fetch(run.job_id, connection=redis_connection()).get_meta(refresh=True).get("progress")
    except (NoSuchJobError, QueueUnavailable, RedisError):
        return None


def _mapping_form(run: UsageImportRun) -> MappingForm:
    form = MappingForm(data=run.mapping or {})
    columns = [(c, c) for c in (run.preview or {}).get("header", [])]
    for key in FIELDS:
        getattr(form, key).choices = columns
    return form


@bp.route("", methods=["GET", "POST"])
@accepts_upload("CRM_MAX_UPLOAD_BYTES", "admin")
@admin_required
def index():
    form = UsageUploadForm()
    form.offer_id.choices = [("", "—")] + [(str(o.id), f"{o.label} ({o.code})") for o in active_offers()]
    if form.validate_on_submit():
        offer_id = as_id(form.offer_id.data)
        offer = db.session.get(Offer, offer_id) if offer_id else None
        if offer is None:
            form.offer_id.errors = ["Choisissez une offre."]
        else:
            try:
                run = runs.start_preview(form.file.data, offer, None, user_id=current_user.id)
            except UsageFileError as error:
                form.file.errors = [str(error)]
            else:
                return redirect(url_for("usage_admin.show", run_id=run.id))
    recent = db.session.scalars(select(UsageImportRun).order_by(UsageImportRun.id.desc()).limit(50)).all()
    offers = {o.id: o for o in db.session.scalars(select(Offer))}
    status = 422 if form.errors else 200
    return render_template("admin/usages.html", form=form, runs=recent, offers=offers), status


@bp.route("/<int:run_id>")
@admin_required
def show(run_id: int):
    run = _run(run_id)
    return render_template(
        "admin/usage_run.html",
        run=run,
        offer=db.session.get(Offer, run.offer_id),
        progress=_progress(run),
        mapping_form=_mapping_form(run),
        confirm_form=Form(),
    )


@bp.route("/<int:run_id>/correspondance", methods=["POST"])
@admin_required
def remap(run_id: int):
    """Choose other columns: the preview is read again from the stored file."""
    run = _run(run_id)
    form = _mapping_form(run)
    if run.status != "apercu" or not form.validate_on_submit():
        flash("Cet import n'est plus en aperçu, ou le formulaire a expiré.", "error")
        return redirect(url_for("usage_admin.show", run_id=run.id))
    mapping = {key: getattr(form, key).data for key in FIELDS}
    try:
        with open(run.stored_path, "rb") as handle:
            reading = preview(handle.read(), db.session.get(Offer, run.offer_id), mapping)
    except (UsageFileError, OSError) as error:
        flash(str(error), "error")
        return redirect(url_for("usage_admin.show", run_id=run.id))
    run.mapping = reading.mapping
    run.preview = {**reading.as_dict(), "header": reading.header, "sample": runs._sample(reading)}
    db.session.commit()
    flash("Aperçu recalculé avec ces colonnes.", "success")
    return redirect(url_for("usage_admin.show", run_id=run.id))


@bp.route("/<int:run_id>/importer", methods=["POST"])
@admin_required
def confirm(run_id: int):
    run = _run(run_id)
    if not Form().validate_on_submit():
        flash("Le formulaire a expiré : recommencez.", "error")
    elif not runs.confirm(run):
        flash("Cet import est déjà lancé.", "error")
    elif run.job_id is None:
        flash("La file de traitement est momentanément indisponible : l'import attend en file.", "error")
    else:
        flash("Import lancé.", "success")
    return redirect(url_for("usage_admin.show", run_id=run.id))


@bp.route("/<int:run_id>/etat")
@admin_required
def state(run_id: int):
    run = _run(run_id)
    return jsonify(
        {
            "id": run.id,
            "status": {"termine": "terminé", "echoue": "échoué"}.get(run.status, run.status),
            "progress": _progress(run),
            "summary": run.summary,
            "error": run.error,
            "can_relaunch": False,
        }
    )


class OfferSettingsForm(Form):
    eligible_sectors = SelectMultipleField("Secteurs éligibles", choices=[], validate_choice=False)
    eligible_categories = SelectMultipleField("Catégories éligibles", choices=[], validate_choice=False)
    metric_name = StringField("Indicateur d'usage", validators=[Length(max=120)])
    metric_unit = StringField("Unité", validators=[Length(max=40)])


@bp.route("/offres", methods=["GET"])
@admin_required
def offers():
    settings = {s.offer_id: s for s in db.session.scalars(select(OfferDeploymentSettings))}
    return render_template("admin/usage_offers.html", offers=active_offers(), settings=settings)


@bp.route("/offres/<int:offer_id>", methods=["GET", "POST"])
@admin_required
def offer_settings_page(offer_id: int):
    """An offer's eligible population (sectors, categories) and usage metric (name, unit)."""
    offer = db.session.get(Offer, offer_id)
    if offer is None:
        abort(404)
    current = offer_settings(offer)
    form = OfferSettingsForm(
        data={
            "eligible_sectors": [c for c in current.eligible_sectors.split(",") if c],
            "eligible_categories": [c for c in current.eligible_categories.split(",") if c],
            "metric_name": current.metric_name,
            "metric_unit": current.metric_unit,
        }
    )
    sectors = list(db.session.scalars(select(Sector).order_by(Sector.position)))
    categories = list(db.session.scalars(select(Category).order_by(Category.label)))
    form.eligible_sectors.choices = [(s.code, s.label) for s in sectors]
    form.eligible_categories.choices = [(c.code, c.label) for c in categories]
    if form.validate_on_submit():
        known_sectors, known_categories = {s.code for s in sectors}, {c.code for c in categories}
        values = {
            "eligible_sectors": ",".join(c for c in form.eligible_sectors.data if c in known_sectors),
            "eligible_categories": ",".join(c for c in form.eligible_categories.data if c in known_categories),
            "metric_name": (form.metric_name.data or "").strip() or "Utilisateurs actifs",
            "metric_unit": (form.metric_unit.data or "").strip() or "utilisateurs",
        }
        save_offer_settings(offer, values, user_id=current_user.id, origin="admin")
        db.session.commit()
        flash("Réglages de l'offre enregistrés.", "success")
        return redirect(url_for("usage_admin.offer_settings_page", offer_id=offer.id))
    return render_template(
        "admin/usage_offer.html",
        offer=offer,
        form=form,
        default_sectors=offer.programme.target_sectors,
    ), 422 if form.errors else 200
