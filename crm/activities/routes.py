"""Activity pages: log an activity in a few seconds, the filtered list, one activity."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy import select

from crm.accounts import permissions
from crm.activities import services
from crm.activities.forms import ActivityForm
from crm.activities.models import KINDS, Activity
from crm.platform.dates import local_today
from crm.platform.errors import json_error
from crm.platform.extensions import db
from crm.platform.validation import ValidationFailed, parse_date
from crm.platform.web import apply_errors, int_arg, list_page
from crm.referential.models import Programme
from crm.referential.services import department_choices, departments_for_select
from crm.structures.forms import ConfirmForm
from crm.structures.models import Structure
from crm.structures.services import autocomplete

bp = Blueprint("activities", __name__, url_prefix="/activites")

PER_PAGE = 50
MAX_IDS = 50
MAX_ID = 2**31 - 1


@bp.app_context_processor
def activity_helpers():
    return {"can_log_activity": lambda: permissions.can_log_activity(current_user)}


def _to_id(value) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 1 <= number <= MAX_ID else None


def _ids(values) -> list[int]:
    """The well-formed ids of a multi-value field, to redisplay the form (the service reports the others)."""
    ids = [number for number in map(_to_id, values or []) if number is not None]
    return list(dict.fromkeys(ids))[:MAX_IDS]


def opportunity_from_activity_url(activity: Activity) -> str:
    return url_for("pipeline.opportunities") + f"/nouvelle?activity_id={activity.id}"


# --- logging an activity ---------------------------------------------------------------------------


@bp.route("/nouvelle", methods=["GET", "POST"])
@login_required
def new():
    if not permissions.can_log_activity(current_user):
        abort(403)
    form = ActivityForm()
    found: list[dict] = []
    status = 200
    duplicate = None
    if request.method == "GET":
        form.occurred_on.data = local_today().isoformat()
        structure_id = int_arg("structure_id")
        if structure_id and db.session.get(Structure, structure_id) is not None:
            form.structure_ids.data = [str(structure_id)]
            form.origin.data = str(structure_id)
    elif form.validate_on_submit():
        if "ajouter_structure" in request.form:
            found = _search_without_js(form)
        else:
            try:
                activity = services.log_activity(form.service_data(), user=current_user, check_duplicates=True)
            except ValidationFailed as error:
                db.session.rollback()
                apply_errors(form, error)
                status = 422
            except services.DuplicateActivity as error:
                db.session.rollback()
                duplicate, status = error.existing, 409
            else:
                return _after_save(activity, _to_id(form.origin.data))
    else:
        status = 422
    return render_template("activities/form.html", form=form, duplicate=duplicate, **_form_context(form, found)), status


def _editable(activity_id: int) -> Activity:
    activity = db.session.get(Activity, activity_id)
    if activity is None:
        abort(404)
    if not permissions.can_edit_activity(current_user, activity):
        abort(403)
    return activity


@bp.route("/<int(max=2147483647):activity_id>/modifier", methods=["GET", "POST"])
@login_required
def edit(activity_id: int):
    activity = _editable(activity_id)
    form = ActivityForm()
    found: list[dict] = []
    status = 200
    if request.method == "GET":
        for name, value in services.activity_values(activity).items():
            field = form._fields[name]
            if isinstance(value, list):
                field.data = [str(i) for i in value]
            elif isinstance(value, date):
                field.data = value.isoformat()
            elif isinstance(value, bool):
                field.data = value
            else:
                field.data = "" if value is None else str(value)
    elif form.validate_on_submit():
        if "ajouter_structure" in request.form:
            found = _search_without_js(form)
        else:
            data = form.service_data()
            data.pop("confirm_duplicate", None)
            try:
                services.update_activity(activity, data, user=current_user)
            except ValidationFailed as error:
                db.session.rollback()
                apply_errors(form, error)
                status = 422
            else:
                flash("Activité modifiée. Les indicateurs suivent dans quelques secondes.", "success")
                return redirect(url_for("activities.show", activity_id=activity.id))
    else:
        status = 422
    return render_template(
        "activities/form.html", form=form, duplicate=None, activity=activity, **_form_context(form, found)
    ), status


@bp.route("/<int(max=2147483647):activity_id>/supprimer", methods=["POST"])
@login_required
def delete(activity_id: int):
    activity = _editable(activity_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    label = f"{activity.kind_label} du {activity.occurred_on.strftime('%d/%m/%Y')}"
    services.delete_activity(activity, user=current_user)
    flash(f"Activité « {label} » supprimée. L'historique en garde la trace.", "success")
    return redirect(url_for("activities.index"))


def _search_without_js(form: ActivityForm) -> list[dict]:
    """Without JavaScript, "Chercher" posts the form back with matching structures to tick."""
    query = (request.form.get("structure_q") or "").strip()[:200]
    chosen = set(_ids(form.structure_ids.data))
    found = [item for item in autocomplete(query, limit=10) if item["id"] not in chosen]
    if len(query) < 2:
        form.structure_ids.errors = ["Tapez au moins deux lettres du nom, de la commune, ou le n° FINESS."]
    elif not found:
        form.structure_ids.errors = [f"Aucune autre structure ouverte ne correspond à « {query} »."]
    return found


def _after_save(activity: Activity, origin: int | None):
    # The next step's task is the activity_next_step_task rule's, a moment after this commit.
    planned = (
        " La relance de la prochaine étape arrive dans « Mes relances » dans quelques secondes."
        if activity.next_step
        else ""
    )
    flash(
        Markup('Activité enregistrée.{} <a href="{}">Créer une opportunité à partir de cette activité</a>').format(
            planned, opportunity_from_activity_url(activity)
        ),
        "success",
    )
    structure_ids = [s.id for s in activity.structures]
    if origin not in structure_ids and len(structure_ids) == 1:
        origin = structure_ids[0]
    if origin in structure_ids:
        return redirect(url_for("structures.show", structure_id=origin) + "#activites")
    return redirect(url_for("activities.show", activity_id=activity.id))


def _form_context(form: ActivityForm, found: list[dict]) -> dict:
    ids = _ids(form.structure_ids.data)
    loaded = {s.id: s for s in db.session.scalars(select(Structure).where(Structure.id.in_(ids)))} if ids else {}
    selected = [loaded[i] for i in ids if i in loaded]
    contacts = services.contact_choices([s.id for s in selected])
    groups = [(s, [c for c in contacts if c.structure_id == s.id]) for s in selected]
    origin = _to_id(form.origin.data)
    return {
        "selected": selected,
        "found": found,
        "contact_groups": groups,
        "has_contacts": bool(contacts),
        "programmes": services.programme_choices(),
        "checked": {name: set(_ids(form._fields[name].data)) for name in ("contact_ids", "offer_ids", "programme_ids")},
        "cancel_url": url_for("structures.show", structure_id=origin) if origin else url_for("activities.index"),
    }


@bp.route("/contacts")
@login_required
def contacts():
    """The contacts one may tick for these structures (JSON, for the form's script)."""
    raw = request.args.getlist("structure_id")
    if len(raw) > MAX_IDS or any(_to_id(value) is None for value in raw):
        return json_error(400, f"Jusqu'à {MAX_IDS} identifiants de structure (nombres entiers) attendus.")
    return jsonify(
        [
            {"id": c.id, "name": c.display_name, "function": c.function, "structure_id": c.structure_id}
            for c in services.contact_choices(_ids(raw))
        ]
    )


# --- reading ---------------------------------------------------------------------------------------


def _list_filters(departments) -> tuple[dict, dict, dict]:
    """Query string -> service filters; a bad value is reported beside its filter, never a 500."""
    args, errors, filters = request.args, {}, {}
    raw = {
        key: (args.get(key) or "").strip()[:20]
        for key in ("departement", "type", "programme", "animateur", "du", "au", "structure")
    }
    if raw["departement"]:
        if raw["departement"].upper() in {d.code for d in departments}:
            filters["department"] = raw["departement"].upper()
        else:
            errors["departement"] = "Département inconnu."
    if raw["type"]:
        if raw["type"] in KINDS:
            filters["kind"] = raw["type"]
        else:
            errors["type"] = "Type d'activité inconnu."
    for key, name, message in (
        ("programme", "programme", "Programme invalide."),
        ("animateur", "author", "Animateur invalide."),
        ("structure", "structure", "Structure invalide."),
    ):
        if raw[key]:
            filters[name] = _to_id(raw[key])
            if filters[name] is None:
                del filters[name]
                errors[key] = message
    for key, name in (("du", "start"), ("au", "end")):
        value = parse_date(raw[key], errors, key)
        if value is not None:
            filters[name] = value
    if filters.get("start") and filters.get("end") and filters["start"] > filters["end"]:
        errors["au"] = "La fin de la période précède son début."
        del filters["end"]
    return raw, filters, errors


@bp.route("")
@login_required
def index():
    departments = departments_for_select()
    params, filters, errors = _list_filters(departments)
    page, errors["page"] = list_page(services.list_activities, per_page=PER_PAGE, **filters)
    structure = db.session.get(Structure, filters["structure"]) if filters.get("structure") else None
    other_args = {k: v for k, v in request.args.items() if k not in ("structure", "page", "apres")}
    return render_template(
        "activities/index.html",
        page=page,
        params=params,
        errors=errors,
        departments=department_choices(),
        kinds=KINDS,
        structure=structure,
        authors=services.activity_authors(),
        clear_structure_url=url_for("activities.index", **other_args),
        programmes=db.session.scalars(select(Programme).order_by(Programme.number)).all(),
    )


@bp.route("/<int(max=2147483647):activity_id>")
@login_required
def show(activity_id: int):
    activity = db.session.get(Activity, activity_id)
    if activity is None:
        abort(404)
    can_follow_up = permissions.can_log_activity(current_user) and any(
        permissions.can_edit_structure(current_user, s) for s in activity.structures
    )
    return render_template(
        "activities/show.html",
        activity=activity,
        can_follow_up=can_follow_up,
        opportunity_url=opportunity_from_activity_url(activity),
        can_edit=permissions.can_edit_activity(current_user, activity),
        confirm=ConfirmForm(),
    )
