"""The public survey page (no account): the personal link of the survey email."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from crm.events.followup import survey
from crm.events.followup.forms import SurveyForm
from crm.platform.validation import ValidationFailed

bp = Blueprint("survey_public", __name__, url_prefix="/e")

STATE_STATUS = {"inconnue": 404, "expiree": 410, "repondue": 409}


@bp.route("/avis/<token>", methods=["GET", "POST"])
def answer(token: str):
    invitation, state = survey.invitation_for(token)
    form = SurveyForm()
    event = invitation.registration.event if invitation else None
    if state != "valide":
        # A second submission (or a reload after answering) is told, not refused with an error page.
        status = 200 if state == "repondue" and request.method == "GET" else STATE_STATUS[state]
        return render_template("events/followup/survey.html", state=state, event=event, form=form), status
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            survey.answer_survey(invitation, request.form)
        except ValidationFailed as error:
            for name, message in error.errors.items():
                getattr(form, name).errors = [message]
            return render_template("events/followup/survey.html", state=state, event=event, form=form), 422
        except survey.AlreadyAnswered:
            return render_template("events/followup/survey.html", state="repondue", event=event, form=form), 409
        return render_template("events/followup/survey.html", state="merci", event=event, form=form)
    return render_template("events/followup/survey.html", state=state, event=event, form=form)
