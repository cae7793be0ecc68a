"""Public pages (no account): an event's page and registration form, the personal cancellation link."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from crm.events.forms import RegistrationForm, StatusForm, apply_errors, department_choices, registration_data
from crm.events.models import Event
from crm.events.registration import links, registrations
from crm.events.registration.capacity import TooManyRegistrations, registration_counts
from crm.platform.extensions import db
from crm.platform.text import fold
from crm.platform.validation import ValidationFailed
from crm.structures.services import search_structures

bp = Blueprint("public_events", __name__, url_prefix="/e")


def _published(slug: str) -> Event:
    event = db.session.scalar(select(Event).where(Event.slug == slug[:80])) if slug else None
    if event is None or event.status == "brouillon":
        abort(404)
    return event


def _page(event: Event, form: RegistrationForm, status: int = 200, message: str | None = None):
    form.department_code.choices = department_choices()  # only to render: a POST that succeeds skips them
    counts = registration_counts(event.id)
    full = event.capacity is not None and counts["places_prises"] >= event.capacity
    return render_template(
        "public/event.html",
        event=event,
        form=form,
        full=full,
        closed=registrations.closed_reason(event, "public"),
        message=message,
    ), status


@bp.route("/<slug>", methods=["GET", "POST"])
def show(slug: str):
    event = _published(slug)
    form = RegistrationForm()
    if request.method == "GET":
        return _page(event, form)
    if not form.validate_on_submit():  # only the CSRF token is checked by the form itself
        return _page(event, form, 400, "Le formulaire a expiré : rechargez la page et recommencez.")
    if form.website.data:
        # A robot filled the hidden field: it is told "done", and nothing is stored.
        return redirect(url_for("public_events.confirmation", slug=event.slug))
    try:
        registrations.register(event, registration_data(form), source="public", client_ip=request.remote_addr)
    except TooManyRegistrations as error:
        db.session.rollback()
        return render_template("public/message.html", event=event, title="Trop d'inscriptions", message=str(error)), 429
    except ValidationFailed as error:
        db.session.rollback()
        apply_errors(form, error.errors)
        return _page(event, form, 422)
    except registrations.RegistrationClosed as error:
        db.session.rollback()
        return _page(event, form, 409, str(error))
    # One answer whatever happened (registered, waiting list, already registered): whoever typed the
    # address cannot learn whether it is registered; its owner learns their state by email.
    return redirect(url_for("public_events.confirmation", slug=slug))


@bp.route("/<slug>/confirmation")
def confirmation(slug: str):
    return render_template("public/confirmation.html", event=_published(slug))


@bp.route("/structures")
def structures():
    """Structure suggestions for the public form: only id, name and commune."""
    q = (request.args.get("q") or "")[:100]
    if len(fold(q)) < 2:
        return jsonify([])
    page = search_structures(q, status="ouvertes", per_page=10)
    return jsonify(
        [
            {
                "id": s.id,
                "name": s.name,
                "commune": s.commune,
                "label": f"{s.name} – {s.commune}" if s.commune else s.name,
            }
            for s in page.items
        ]
    )


@bp.route("/annuler/<token>", methods=["GET", "POST"])
def cancel(token: str):
    """The personal link: cancel, leave the waiting list or give a promoted seat back."""
    registration, state = links.by_token(token)
    form = StatusForm()
    if state != "valide":
        return render_template(
            "public/cancel.html", registration=registration, state=state, form=form
        ), 404 if state == "inconnue" else 410
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        was_waiting = registration.status == "attente"
        try:
            registrations.cancel(registration)
        except ValidationFailed:  # cancelled meanwhile (a second tab, a double click)
            db.session.rollback()
            return render_template("public/cancel.html", registration=registration, state="annulee", form=form), 410
        return render_template(
            "public/cancel.html", registration=registration, state="faite", was_waiting=was_waiting, form=form
        )
    return render_template("public/cancel.html", registration=registration, state=state, form=form)
