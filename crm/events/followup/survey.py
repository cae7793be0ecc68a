"""The satisfaction survey: a personal link emailed to each participant after the event, one answer each."""

from __future__ import annotations

import hmac
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crm.events.followup.survey_models import SurveyInvitation, SurveyResponse
from crm.events.models import ANONYMOUS_DOMAIN, Event, Registration, as_utc
from crm.events.payloads import registration_payload
from crm.events.registration.emails import event_details, external_url, signature
from crm.events.registration.links import hash_token
from crm.mail import personal_links
from crm.mail.models import EmailMessage
from crm.mail.services import queue_email
from crm.platform.events import record_change
from crm.platform.extensions import db
from crm.platform.models import utcnow
from crm.platform.validation import ValidationFailed, text

LINK_VALID_DAYS = 60
MAX_COMMENT = 2000


class AlreadyAnswered(ValueError):
    """This registration's survey has an answer: the first one stays."""


def survey_error(event: Event, now=None) -> str | None:
    """Why the survey of ``event`` cannot be sent now (None: it can)."""
    if event.status not in ("publie", "clos"):
        return "L'enquête de satisfaction s'envoie pour un événement publié ou clos."
    if as_utc(event.ends_at) > (now or utcnow()):
        return "L'enquête de satisfaction s'envoie une fois l'événement terminé."
    return None


def _not_invited(*where):
    """Present registrations not invited yet (the anonymised ones have no address left)."""
    return (
        select(Registration)
        .where(
            Registration.status == "present",
            ~Registration.email_key.endswith("@" + ANONYMOUS_DOMAIN),
            Registration.id.not_in(select(SurveyInvitation.registration_id)),
            *where,
        )
        .order_by(Registration.id)
    )


def invite(registration: Registration, *, user_id: int | None = None) -> EmailMessage | None:
    """Add the survey invitation of one participant and queue its email, in the caller's transaction.

    Once per registration, whoever asks (the organiser's button, the ``event_survey`` rule): the
    invitation's UNIQUE registration and the message's ``dedupe_key=survey:<registration id>``
    refuse a second one. Returns None (nothing added) when the registration was invited already.
    """
    if (
        db.session.scalar(select(SurveyInvitation.id).where(SurveyInvitation.registration_id == registration.id))
        is not None
    ):
        return None
    event = registration.event
    link = external_url("survey_public.answer", token=personal_links.PLACEHOLDER)  # see crm.mail.personal_links
    body = (
        f"Bonjour {registration.first_name},\n\nMerci d'avoir participé à\n{event_details(event)}\n\n"
        "Votre avis nous aide à améliorer nos prochains rendez-vous : trois questions, une minute.\n"
        f"{link}\n\nCe lien personnel est valable {LINK_VALID_DAYS} jours.{signature()}"
    )
    message = queue_email(
        kind="survey.invitation",
        to_address=registration.email,
        to_name=registration.display_name,
        subject=f"Votre avis sur « {event.title} »",
        body_text=body,
        related=("registration", registration.id),
        dedupe_key=f"survey:{registration.id}",
        created_by_id=user_id,
    )
    if message is None:
        return None
    db.session.add(
        SurveyInvitation(
            registration_id=registration.id,
            token_hash=hash_token(personal_links.token_for(message)),
            expires_at=as_utc(event.ends_at) + timedelta(days=LINK_VALID_DAYS),
        )
    )
    return message


def record_sent(
    event: Event, registration_ids: list[int], *, user_id: int | None = None, origin: str | None = None
) -> None:
    """The ``event.survey_sent`` event of invitations just added (the caller commits)."""
    record_change(
        entity_type="event",
        entity_id=event.id,
        action="survey",
        changes={"enquetes_envoyees": [None, len(registration_ids)]},
        event_type="event.survey_sent",
        payload={"event_id": event.id, "registration_ids": registration_ids},
        user_id=user_id,
        origin=origin,
    )


def send_survey(event: Event, *, user_id: int | None = None) -> int:
    """The organiser's button: invite every present participant not invited yet; returns how many.

    Safe to call again, and after the ``event_survey`` rule (or before it): a participant gets one
    link and one message (see :func:`invite`).
    """
    reason = survey_error(event)
    if reason:
        raise ValidationFailed({"event": reason})
    pending = db.session.scalars(_not_invited(Registration.event_id == event.id)).all()
    try:
        # Each invitation's message is flushed for its link (crm.mail.personal_links): the race shows there.
        invited = [registration.id for registration in pending if invite(registration, user_id=user_id) is not None]
        if invited:
            record_sent(event, invited, user_id=user_id)
        db.session.commit()
    except IntegrityError:  # a second click (or the rule) sent the same invitations meanwhile
        db.session.rollback()
        raise ValidationFailed({"event": "L'enquête est déjà en cours d'envoi : rechargez la page."}) from None
    return len(invited)


def participants_to_invite(ended_after, ended_before) -> list[Registration]:
    """The ``event_survey`` rule's subjects: present participants not invited yet, of the published or
    closed events that ended in ``[ended_after, ended_before]`` (never a cancelled event)."""
    ended = select(Event.id).where(
        Event.status.in_(("publie", "clos")), Event.ends_at >= ended_after, Event.ends_at <= ended_before
    )
    return list(db.session.scalars(_not_invited(Registration.event_id.in_(ended))))


def invitation_for(token: str | None) -> tuple[SurveyInvitation | None, str]:
    """The invitation of a link and its state: "valide", "repondue", "expiree" or "inconnue"."""
    if not token or not isinstance(token, str) or len(token) > 100:
        return None, "inconnue"
    digest = hash_token(token)
    invitation = db.session.scalar(select(SurveyInvitation).where(SurveyInvitation.token_hash == digest))
    if invitation is None or not hmac.compare_digest(invitation.token_hash, digest):
        return None, "inconnue"
    answered = db.session.scalar(
        select(SurveyResponse.id).where(SurveyResponse.registration_id == invitation.registration_id)
    )
    if answered is not None:
        return invitation, "repondue"
    if utcnow() >= as_utc(invitation.expires_at):
        return invitation, "expiree"
    return invitation, "valide"


def clean_answer(data: dict) -> dict:
    """useful (oui/non), score (1 to 5), comment: every error at once, in French."""
    errors: dict[str, str] = {}
    useful = data.get("useful")
    if useful not in ("oui", "non", True, False):
        errors["useful"] = "Indiquez si l'événement vous a été utile."
    score = data.get("score")
    score = str(score).strip() if isinstance(score, (str, int)) and not isinstance(score, bool) else ""
    if score not in ("1", "2", "3", "4", "5"):
        errors["score"] = "Choisissez une note de 1 à 5."
    comment = text(data.get("comment"), errors, "comment", max_length=MAX_COMMENT)
    if errors:
        raise ValidationFailed(errors)
    return {"useful": useful in ("oui", True), "score": int(score), "comment": comment}


def answer_survey(invitation: SurveyInvitation, data: dict) -> SurveyResponse:
    """Store the answer with its ``survey.answered`` event; AlreadyAnswered if one is there (even under a race)."""
    values = clean_answer(data)
    registration = invitation.registration
    response = SurveyResponse(registration_id=registration.id, event_id=registration.event_id, **values)
    db.session.add(response)
    try:
        db.session.flush()
    except IntegrityError:  # UNIQUE(registration_id): the other submission won
        db.session.rollback()
        raise AlreadyAnswered() from None
    record_change(
        entity_type="registration",
        entity_id=registration.id,
        action="survey",
        changes={"useful": [None, response.useful], "score": [None, response.score]},
        event_type="survey.answered",
        payload={**registration_payload(registration), "useful": response.useful, "score": response.score},
        parent=("event", registration.event_id),
    )
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AlreadyAnswered() from None
    return response
