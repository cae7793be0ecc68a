"""What an event produced: the organiser's event page, the event's figures ("bilan"), a series' comparison.

These pages read crm.indicators (the opportunities attributed to an event, its figures), which sits
above crm.events: so they live here, on the events' own blueprints, under their usual endpoint names
(``events.show``, ``events.add_registration``, ``event_followup.figures``, ``event_followup.series``).
Adding someone by hand is here because its refusal shows the event page again, with its form's errors.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from crm.accounts.permissions import EVENT_READ_ROLES, can_log_activity, can_manage_events, roles_required
from crm.events import queries
from crm.events.blueprint import bp as events_bp
from crm.events.blueprint import event_or_404, reader_required, require_manager
from crm.events.followup import survey
from crm.events.followup.routes import bp as followup_bp
from crm.events.forms import RegistrationForm, StatusForm, apply_errors, department_choices, registration_data
from crm.events.models import REGISTRATION_STATUSES, Event, EventSeries
from crm.events.registration import registrations
from crm.events.registration.capacity import registration_counts
from crm.events.registration.checkin import before_the_day_error
from crm.indicators.attribution import attribution_days, event_attribution, series_attribution
from crm.indicators.events import event_figures, series_figures
from crm.platform.extensions import db
from crm.platform.validation import ValidationFailed
from crm.platform.web import get_or_404


@followup_bp.app_context_processor
def followup_helpers():
    """For the event page's "bilan" panel, whichever blueprint renders it."""
    return {
        "can_organise": lambda: can_manage_events(current_user),
        "event_figures_of": lambda event: event_figures([event.id])[event.id],
        "survey_error_of": survey.survey_error,
    }


def _show(event: Event, registration_form: RegistrationForm | None = None, status: int = 200):
    if registration_form is None:
        registration_form = RegistrationForm()
        registration_form.department_code.choices = department_choices()
    return render_template(
        "events/show.html",
        event=event,
        counts=registration_counts(event.id),
        registrations=queries.registrations_of(event.id),
        statuses=REGISTRATION_STATUSES,
        can_write=can_manage_events(current_user),
        action_form=StatusForm(),
        registration_form=registration_form,
        produced=event_attribution(event),
        attribution_days=attribution_days(),
        can_open_opportunity=can_log_activity(current_user),
        public_url=url_for("public_events.show", slug=event.slug, _external=True),
        # Attendance (present, absent) is noted from the event's day on: the check-in and its actions show then.
        checkin_open=(event.status == "publie" and before_the_day_error(event) is None) or event.status == "clos",
    ), status


@events_bp.route("/<int:event_id>")
@reader_required
def show(event_id: int):
    return _show(event_or_404(event_id))


@events_bp.route("/<int:event_id>/inscriptions", methods=["POST"])
@reader_required
def add_registration(event_id: int):
    """Add someone by hand (source back_office): the same capacity and waiting-list rules."""
    require_manager()
    event = event_or_404(event_id)
    form = RegistrationForm()
    form.department_code.choices = department_choices()
    if not form.validate_on_submit():
        abort(400)
    try:
        registration, outcome = registrations.register(
            event, registration_data(form), source="back_office", user_id=current_user.id
        )
    except ValidationFailed as error:
        db.session.rollback()
        apply_errors(form, error.errors)
        return _show(event, form, 422)
    except registrations.RegistrationClosed as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for("events.show", event_id=event.id))
    flash(
        {
            "inscrit": f"{registration.display_name} est inscrit(e).",
            "attente": f"Événement complet : {registration.display_name} est sur la liste d'attente.",
            "existant": f"{registration.display_name} était déjà inscrit(e) avec cette adresse.",
        }[outcome],
        "success",
    )
    return redirect(url_for("events.show", event_id=event.id) + "#inscriptions")


@followup_bp.route("/<int:event_id>/bilan")
@login_required
@roles_required(*EVENT_READ_ROLES)
def figures(event_id: int):
    event = event_or_404(event_id)
    return render_template("events/followup/figures.html", event=event, figures=event_figures([event.id])[event.id])


@followup_bp.route("/series/<int:series_id>")
@login_required
@roles_required(*EVENT_READ_ROLES)
def series(series_id: int):
    item = get_or_404(EventSeries, series_id)
    events, figures_by_event, total = series_figures(item.id)
    produced, produced_total = series_attribution(events)
    return render_template(
        "events/followup/series.html",
        series=item,
        events=events,
        columns=[figures_by_event[e.id] for e in events] + [total],
        produced=produced,
        produced_total=produced_total,
        attribution_days=attribution_days(),
    )
