"""Pipeline pages: the board, the list of opportunities, an opportunity, its stage changes.

The project pages are in ``project_routes`` on the same blueprint.
"""

from __future__ import annotations

from datetime import date

from flask import (
    Blueprint,
    abort,
    flash,
    get_template_attribute,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from werkzeug.routing import BuildError

from crm.accounts import permissions
from crm.activities.models import Activity
from crm.pipeline import queries, services
from crm.pipeline.forms import OpportunityEditForm, OpportunityForm, offer_choices, owner_choices
from crm.pipeline.models import OPEN_STAGES, SOURCE_OF_ACTIVITY_KIND, SOURCES, STAGES, Opportunity
from crm.pipeline.stages import NEEDS_REASON
from crm.platform.concurrency import StaleEdit
from crm.platform.dates import local_today
from crm.platform.errors import json_error, wants_json
from crm.platform.extensions import db
from crm.platform.formatting import format_date
from crm.platform.security import is_safe_redirect
from crm.platform.validation import ValidationFailed
from crm.platform.web import (
    apply_errors,
    date_arg,
    department_arg,
    form_data,
    get_or_404,
    int_arg,
    list_page,
    version_of,
)
from crm.referential.services import department_choices
from crm.structures.models import Structure

bp = Blueprint("pipeline", __name__)

LIST_STAGES = {
    **{s: STAGES[s] for s in (*OPEN_STAGES, "gagnee")},
    "perdue_abandonnee": "Perdue / abandonnée",
    "perdue": "Perdue",
    "abandonnee": "Abandonnée",
}


# --- shared helpers (also used by project_routes) ---------------------------------------------------


def may_write() -> bool:
    """Only animators (with departments) and admins open or change opportunities and projects."""
    return permissions.can_log_activity(current_user)


def require_writer() -> None:
    if not may_write():
        abort(403)


def require_edit(structure: Structure) -> None:
    if not permissions.can_edit_structure(current_user, structure):
        abort(403)


def filter_options() -> dict:
    return {
        "departments": department_choices(),
        "programmes": queries.programmes(),
        "owners": queries.owner_choices(),
    }


# --- board and list ---------------------------------------------------------------------------------


def _opportunity_params(with_stage: bool = False) -> tuple[dict, queries.OpportunityFilters]:
    stage = request.args.get("etape") if with_stage else None
    params = {
        "departement": department_arg(),
        "programme": int_arg("programme"),
        "responsable": int_arg("responsable"),
        "du": date_arg("du"),
        "au": date_arg("au"),
        "mes": request.args.get("mes") == "1",
        "etape": stage if stage in LIST_STAGES else None,
    }
    filters = queries.OpportunityFilters(
        department=params["departement"],
        programme=params["programme"],
        owner=current_user.id if params["mes"] else params["responsable"],
        start=params["du"],
        end=params["au"],
        stage=params["etape"],
    )
    return params, filters


def _filter_args(params: dict) -> dict:
    """The active filters as URL arguments (for "voir tout" and the list/board switch)."""
    args = {
        "departement": params["departement"],
        "programme": params["programme"],
        "responsable": params["responsable"],
        "du": params["du"],
        "au": params["au"],
        "mes": "1" if params["mes"] else None,
    }
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in args.items() if v}


@bp.route("/pipeline")
@login_required
def board():
    params, filters = _opportunity_params()
    return render_template(
        "pipeline/board.html",
        columns=queries.board(filters),
        params=params,
        filter_args=_filter_args(params),
        reasons=queries.active_loss_reasons(),
        can_write=may_write(),
        card_context=_card_context(request.full_path),
        **filter_options(),
    )


def _card_context(back_url: str) -> dict:
    """What the board_card macro (templates/pipeline/_card.html) needs besides the opportunity, built once for
    all the cards (URLs built per card were a tenth of the page's time at 250 cards)."""
    return {
        "opportunities_url": url_for("pipeline.opportunities"),
        "token": generate_csrf(),
        "back_url": back_url,
        "stages": STAGES,
        "menus": {stage: queries.move_menu(stage) for stage in OPEN_STAGES},
        "days_in_stage": queries.days_in_stage,
        "today": local_today(),
        "can_edit": lambda structure: permissions.can_edit_structure(current_user, structure),
    }


@bp.route("/opportunites")
@login_required
def opportunities():
    params, filters = _opportunity_params(with_stage=True)
    page, page_error = list_page(queries.list_opportunities, filters)
    return render_template(
        "pipeline/opportunities.html",
        page=page,
        page_error=page_error,
        params=params,
        filter_args=_filter_args(params),
        list_stages=LIST_STAGES,
        days_in_stage=queries.days_in_stage,
        today=local_today(),
        can_write=may_write(),
        **filter_options(),
    )


# --- creating and editing ---------------------------------------------------------------------------


def _structure_picker(form: OpportunityForm, activity: Activity | None) -> dict:
    """How the form offers the structure: fixed, chosen among the activity's, or by autocomplete."""
    structure_id = int_arg("structure_id")
    if structure_id is not None and activity is None:
        structure = get_or_404(Structure, structure_id)
        require_edit(structure)
        form.structure_id.data = str(structure.id)
        return {"mode": "fixed", "structure": structure}
    if activity is not None:
        options = [s for s in activity.structures if permissions.can_edit_structure(current_user, s)]
        if not options:
            abort(403)
        if len(options) == 1:
            form.structure_id.data = str(options[0].id)
            return {"mode": "fixed", "structure": options[0]}
        if not form.structure_id.data:
            form.structure_id.data = str(options[0].id)
        return {"mode": "choice", "options": options}
    picked = None
    if str(form.structure_id.data or "").isdigit() and len(str(form.structure_id.data)) < 10:
        picked = db.session.get(Structure, int(form.structure_id.data))
    return {"mode": "search", "structure": picked}


def _event_choices() -> list[tuple[str, str]]:
    """The events of the last year that took place, for "Événement concerné"."""
    return [("", "— Non précisé —")] + [
        (
            str(e.id),
            f"{format_date(e.starts_at)} – {e.title}" + (f" ({e.department_code})" if e.department_code else ""),
        )
        for e in queries.past_source_events()
    ]


def _prefill_from_activity(form: OpportunityForm, activity: Activity) -> None:
    form.source_activity_id.data = str(activity.id)
    form.source.data = SOURCE_OF_ACTIVITY_KIND.get(activity.kind, "autre")
    form.need.data = activity.notes
    form.title.data = activity.subject
    form.identified_on.data = activity.occurred_on.isoformat()  # the need was heard at the activity
    if len(activity.offers) == 1:
        form.offer_id.data = str(activity.offers[0].id)


@bp.route("/opportunites/nouvelle", methods=["GET", "POST"])
@login_required
def opportunity_new():
    require_writer()
    activity_id = int_arg("activity_id")
    activity = get_or_404(Activity, activity_id) if activity_id is not None else None
    form = OpportunityForm()
    if request.method == "GET":
        form.identified_on.data = local_today().isoformat()
    if request.method == "GET" and activity is not None:
        _prefill_from_activity(form, activity)
    if request.method == "GET" and int_arg("event_id") is not None:  # from an event's page
        form.source.data, form.source_event_id.data = "evenement", str(int_arg("event_id"))
    form.source_event_id.choices = _event_choices()
    form.offer_id.choices = offer_choices(queries.offers_by_programme())
    form.owner_id.choices = owner_choices(queries.owner_choices(), blank="— Par défaut —")
    picker = _structure_picker(form, activity)
    if form.validate_on_submit():
        data = form_data(form)
        if data["source"] != "evenement":  # a choice left behind when the origin changed
            data["source_event_id"] = None
        try:
            opportunity = services.create_opportunity(data, user=current_user)
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            flash("Opportunité créée.", "success")
            return redirect(url_for("pipeline.opportunity", opportunity_id=opportunity.id))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "pipeline/opportunity_form.html", form=form, opportunity=None, picker=picker, activity=activity
    ), status


def _get_opportunity(opportunity_id: int) -> Opportunity:
    return get_or_404(Opportunity, opportunity_id)


@bp.route("/opportunites/<int:opportunity_id>/modifier", methods=["GET", "POST"])
@login_required
def opportunity_edit(opportunity_id: int):
    opportunity = _get_opportunity(opportunity_id)
    require_edit(opportunity.structure)
    form = OpportunityEditForm(obj=opportunity)
    form.owner_id.choices = owner_choices(queries.owner_choices(include=opportunity.owner))
    if request.method == "GET":
        form.owner_id.data = str(opportunity.owner_id or "")
        form.version.data = opportunity.version
    if form.validate_on_submit():
        try:
            services.update_opportunity(
                opportunity, form_data(form), user=current_user, expected_version=version_of(form)
            )
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        except StaleEdit as error:
            db.session.rollback()
            flash(str(error), "error")
            return render_template(
                "pipeline/opportunity_form.html", form=form, opportunity=opportunity, picker=None
            ), 409
        else:
            flash("Modifications enregistrées.", "success")
            return redirect(url_for("pipeline.opportunity", opportunity_id=opportunity.id))
    status = 422 if request.method == "POST" else 200
    return render_template("pipeline/opportunity_form.html", form=form, opportunity=opportunity, picker=None), status


# --- one opportunity and its stage changes ----------------------------------------------------------


def _activity_url(activity_id: int | None) -> str | None:
    if not activity_id:
        return None
    try:
        return url_for("activities.show", activity_id=activity_id)
    except BuildError:  # the activity pages may not offer one activity's page
        return None


@bp.route("/opportunites/<int:opportunity_id>")
@login_required
def opportunity(opportunity_id: int):
    opportunity = _get_opportunity(opportunity_id)
    activity = db.session.get(Activity, opportunity.source_activity_id) if opportunity.source_activity_id else None
    targets = queries.move_targets(opportunity.stage)
    # Forward moves first; a move back (a card moved too far) is offered last.
    rank = {stage: i for i, stage in enumerate((*OPEN_STAGES, "gagnee"))}
    current = rank.get(opportunity.stage, 0)
    direct = sorted((t for t in targets if t not in NEEDS_REASON), key=lambda t: (rank[t] < current, rank[t]))
    chosen = request.args.get("etape")
    return render_template(
        "pipeline/opportunity.html",
        opportunity=opportunity,
        activity=activity,
        activity_url=_activity_url(activity.id if activity else None),
        sources=SOURCES,
        stages=STAGES,
        direct_targets=direct,
        backward_targets=[t for t in direct if rank[t] < current],
        reason_targets=[t for t in targets if t in NEEDS_REASON],
        chosen_stage=chosen if chosen in NEEDS_REASON else None,
        reasons=queries.active_loss_reasons(),
        days=queries.days_in_stage(opportunity),
        changes=opportunity.changes,
    )


def _stage_reply(opportunity: Opportunity, message: str, link: dict | None = None, outcome: str = ""):
    if wants_json():
        _, filters = _opportunity_params()
        return jsonify(
            {
                "ok": True,
                "stage": opportunity.stage,
                "stage_label": opportunity.stage_label,
                "version": opportunity.version,
                "message": message,
                # What the board's live region says: which card moved, and where.
                "announcement": f"« {opportunity.title} » ({opportunity.structure.name}) déplacée vers "
                f"{opportunity.stage_label}{outcome}.",
                "link": link,
                "counts": queries.column_counts(filters),
                # The card as a reload of the board would show it, put in place by the board's script.
                "card": _card_html(opportunity),
            }
        )
    if link:
        flash(Markup('{} <a href="{}">{}</a>').format(message, link["href"], link["label"]), "success")
    else:
        flash(message, "success")
    return redirect(_back(opportunity))


def _card_html(opportunity: Opportunity) -> str:
    back = request.form.get("next")
    card = get_template_attribute("pipeline/_card.html", "board_card")
    return str(card(opportunity, _card_context(back if is_safe_redirect(back) else url_for("pipeline.board"))))


def _back(opportunity: Opportunity) -> str:
    target = request.form.get("next")
    return target if is_safe_redirect(target) else url_for("pipeline.opportunity", opportunity_id=opportunity.id)


@bp.route("/opportunites/<int:opportunity_id>/etape", methods=["POST"])
@login_required
def opportunity_stage(opportunity_id: int):
    """Move an opportunity: JSON for the board's drag and drop, a redirect with a message otherwise."""
    opportunity = _get_opportunity(opportunity_id)
    require_edit(opportunity.structure)
    stage = (request.form.get("stage") or "").strip()[:40]
    version = (request.form.get("version") or "").strip()
    if version and not (version.isdigit() and len(version) < 10):
        return _stage_refused(opportunity, stage, {"version": "Version invalide : rechargez la page."}, 422)
    try:
        services.change_stage(
            opportunity,
            stage,
            user=current_user,
            reason_id=request.form.get("reason_id"),
            comment=request.form.get("comment"),
            expected_version=int(version) if version else None,
        )
    except ValidationFailed as error:
        db.session.rollback()
        return _stage_refused(opportunity, stage, error.errors, 422)
    except StaleEdit as error:
        db.session.rollback()
        return _stage_refused(opportunity, stage, {"version": str(error)}, 409)
    if opportunity.stage == "gagnee":
        # The project is the won_opportunity_project rule's, a few seconds later: it shows on the structure.
        return _stage_reply(
            opportunity,
            "Opportunité gagnée : le projet est en cours de création.",
            {
                "href": url_for("structures.show", structure_id=opportunity.structure_id) + "#projets",
                "label": "Voir les projets de la structure",
            },
            outcome=" : le projet est en cours de création",
        )
    return _stage_reply(opportunity, f"Opportunité passée en « {opportunity.stage_label} ».")


def _stage_refused(opportunity: Opportunity, stage: str, errors: dict, status: int):
    message = " ".join(errors.values())
    if wants_json():
        return json_error(status, message, errors)
    flash(message, "error")
    if stage in NEEDS_REASON and opportunity.is_open:
        # Without JavaScript the board's buttons carry no reason: the opportunity page asks for it.
        return redirect(url_for("pipeline.opportunity", opportunity_id=opportunity.id, etape=stage) + "#etape")
    return redirect(_back(opportunity))


from crm.pipeline import project_routes  # noqa: E402,F401  (registers the project pages on ``bp``)
