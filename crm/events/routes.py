"""Back office of events: list, create, edit, status changes (publish, close, cancel), duplication, .ics.

On the ``events`` blueprint (crm.events.blueprint), with the check-in screen
(crm.events.registration.checkin_routes) and the event page (crm.pages.event_results).
"""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from crm.accounts.models import User
from crm.accounts.permissions import can_manage_events
from crm.events import queries, services
from crm.events.blueprint import bp, event_or_404, reader_required, require_manager
from crm.events.forms import DuplicateForm, EventForm, StatusForm, apply_errors, department_choices
from crm.events.ics import event_calendar
from crm.events.models import EVENT_STATUSES, Event, as_utc
from crm.events.registration.capacity import registration_counts
from crm.platform.concurrency import StaleEdit
from crm.platform.extensions import db
from crm.platform.formatting import PARIS
from crm.platform.validation import ValidationFailed
from crm.platform.web import department_arg, int_arg, version_of
from crm.referential.models import Offer, Programme
from crm.referential.services import department_choices as referential_department_choices

STATUS_MESSAGES = {
    "publie": "Événement publié : sa page publique est ouverte.",
    "clos": "Événement clos.",
    "annule": "Événement annulé : les inscrits sont prévenus par email.",
}


def _local(value) -> str:
    """A stored UTC datetime as the ``datetime-local`` value in Paris time."""
    value = as_utc(value)
    return value.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M") if value else ""


def _event_form(event: Event | None = None) -> EventForm:
    form = EventForm(obj=event)
    types = [t for t in queries.event_types(False) if t.active or (event is not None and t.id == event.type_id)]
    form.type_id.choices = [("", "— Type —")] + [(str(t.id), t.label) for t in types]
    form.department_code.choices = department_choices("— Aucun (en ligne) —")
    form.programme_ids.choices = [
        (str(p.id), f"{p.number}. {p.label}") for p in db.session.scalars(select(Programme).order_by(Programme.number))
    ]
    form.offer_ids.choices = [
        (str(o.id), o.label)
        for o in db.session.scalars(select(Offer).where(Offer.active.is_(True)).order_by(Offer.label))
    ]
    organisers = db.session.scalars(
        select(User).where(User.role.in_(services.ORGANISER_ROLES), User.active.is_(True)).order_by(User.last_name)
    )
    form.organiser_id.choices = [(str(u.id), u.display_name) for u in organisers]
    if request.method == "GET":
        if event is not None:
            for name in ("starts_at", "ends_at", "registration_opens_at", "registration_closes_at"):
                form[name].data = _local(getattr(event, name))
            form.type_id.data = str(event.type_id)
            form.department_code.data = event.department_code or ""
            form.capacity.data = str(event.capacity or "")
            form.programme_ids.data = [str(p.id) for p in event.programmes]
            form.offer_ids.data = [str(o.id) for o in event.offers]
            form.organiser_id.data = str(event.organiser_id or "")
            form.version.data = event.version
        else:
            form.organiser_id.data = str(current_user.id)
    return form


def _form_values(form: EventForm) -> dict:
    return {name: f.data for name, f in form._fields.items() if name not in ("csrf_token", "version")}


def _list_filter_errors() -> tuple[int | None, int | None, list[str]]:
    """The year and programme of the list, each refused in French (and left out) when not one we know."""
    errors = []
    raw = (request.args.get("annee") or "").strip()
    year = int(raw) if len(raw) == 4 and raw.isascii() and raw.isdigit() and 2000 <= int(raw) <= 2100 else None
    if raw and year is None:
        errors.append("Année invalide : choisissez une année de la liste.")
    programme = (request.args.get("programme") or "").strip()
    programme_id = int_arg("programme")
    if programme and (programme_id is None or db.session.get(Programme, programme_id) is None):
        errors.append("Programme inconnu.")
        programme_id = None
    return year, programme_id, errors


@bp.route("")
@reader_required
def index():
    period = request.args.get("periode")
    year, programme_id, errors = _list_filter_errors()
    # A year chosen shows all of its events, unless a period is chosen too.
    default_period = "a_venir" if period is None and year is None else None
    params = {
        "periode": period if period in ("a_venir", "passes") else default_period,
        "type": int_arg("type"),
        "departement": department_arg(),
        "statut": request.args.get("statut") if request.args.get("statut") in EVENT_STATUSES else None,
        "annee": year,
        "programme": programme_id,
        "mes": request.args.get("mes") == "1",
    }
    filters = queries.EventFilters(
        period=params["periode"],
        type_id=params["type"],
        department=params["departement"],
        status=params["statut"],
        year=year,
        programme_id=programme_id,
        organiser_id=current_user.id if params["mes"] else None,
    )
    page = queries.list_events(filters, page=int_arg("page", 1, maximum=1_000_000))
    return render_template(
        "events/index.html",
        page=page,
        params=params,
        types=queries.event_types(False),
        departments=referential_department_choices(),
        statuses=EVENT_STATUSES,
        year_options=[(y, y) for y in queries.event_years()],
        errors=errors,
        programme_options=[
            (p.id, f"{p.number}. {p.label}") for p in db.session.scalars(select(Programme).order_by(Programme.number))
        ],
        counts=queries.counts_for([e.id for e in page.items]),
        can_write=can_manage_events(current_user),
    )


@bp.route("/nouveau", methods=["GET", "POST"])
@reader_required
def new():
    require_manager()
    form = _event_form()
    if form.validate_on_submit():
        try:
            event = services.create_event(_form_values(form), user=current_user)
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error.errors)
        else:
            flash("Événement créé (brouillon). Publiez-le pour ouvrir les inscriptions.", "success")
            return redirect(url_for("events.show", event_id=event.id))
    return render_template("events/form.html", form=form, event=None), 422 if request.method == "POST" else 200


@bp.route("/<int:event_id>/modifier", methods=["GET", "POST"])
@reader_required
def edit(event_id: int):
    require_manager()
    event = event_or_404(event_id)
    form = _event_form(event)
    if form.validate_on_submit():
        try:
            services.update_event(event, _form_values(form), user=current_user, expected_version=version_of(form))
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error.errors)
        except StaleEdit as error:
            db.session.rollback()
            flash(str(error), "error")
            return render_template("events/form.html", form=form, event=event), 409
        else:
            flash("Événement enregistré.", "success")
            return redirect(url_for("events.show", event_id=event.id))
    return render_template("events/form.html", form=form, event=event), 422 if request.method == "POST" else 200


@bp.route("/<int:event_id>/statut", methods=["POST"])
@reader_required
def change_status(event_id: int):
    """Publish or close (a confirm() in the page); cancelling goes through its own confirmation page."""
    require_manager()
    event = event_or_404(event_id)
    form = StatusForm()
    if not form.validate_on_submit():
        abort(400)
    target = form.status.data
    if target == "annule" and request.form.get("confirme") != "oui":
        return redirect(url_for("events.confirm_cancel", event_id=event.id))
    try:
        services.change_status(event, target, user=current_user)
    except ValidationFailed as error:
        db.session.rollback()
        flash(error.errors.get("status", "Changement de statut impossible."), "error")
    else:
        flash(STATUS_MESSAGES[target], "success")
    return redirect(url_for("events.show", event_id=event.id))


@bp.route("/<int:event_id>/annuler")
@reader_required
def confirm_cancel(event_id: int):
    require_manager()
    event = event_or_404(event_id)
    if message := services.transition_error(event, "annule"):  # already cancelled, or closed: no button to press
        flash(message, "error")
        return redirect(url_for("events.show", event_id=event.id))
    return render_template(
        "events/confirm_cancel.html", event=event, form=StatusForm(), counts=registration_counts(event.id)
    )


@bp.route("/<int:event_id>/dupliquer", methods=["GET", "POST"])
@reader_required
def duplicate(event_id: int):
    require_manager()
    event = event_or_404(event_id)
    form = DuplicateForm()
    form.department_code.choices = department_choices("— Le même —")
    if request.method == "GET":
        form.starts_at.data = _local(event.starts_at)
    if form.validate_on_submit():
        try:
            copy = services.duplicate_event(event, {k: f.data for k, f in form._fields.items()}, user=current_user)
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error.errors)
        else:
            flash("Copie créée (brouillon) dans la même série : vérifiez-la puis publiez-la.", "success")
            return redirect(url_for("events.show", event_id=copy.id))
    return render_template("events/duplicate.html", event=event, form=form), 422 if request.method == "POST" else 200


@bp.route("/<int:event_id>.ics")
@reader_required
def ics(event_id: int):
    event = event_or_404(event_id)
    return Response(
        event_calendar(event, method="PUBLISH", private=True),
        mimetype="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="evenement-{event.id}.ics"'},
    )


from crm.events.registration import checkin_routes  # noqa: E402,F401  (registers the check-in pages on ``bp``)
