"""Retention: the personal data of registrants who are not contacts does not outlive its use.

``REGISTRANT_RETENTION_MONTHS`` (default 24) after an event, the registrations without a contact
lose their names, email, function, free-text structure and client address; their status, their
structure, their department and the survey answers stay, so every count and indicator is kept.
The copies of the emails sent to them go too. A registration linked to a contact is the contact's
business (it has its own RGPD erasure). Running it twice changes nothing the second time.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy import String, cast, delete, func, literal, select, update

from crm.events.followup.survey_models import SurveyInvitation
from crm.events.models import ANONYMOUS_DOMAIN, Event, Registration
from crm.mail.models import EmailMessage
from crm.platform.events import record_change
from crm.platform.extensions import db
from crm.platform.locking import for_update
from crm.platform.models import utcnow

CHUNK = 500


@dataclass
class RetentionSummary:
    cutoff: datetime
    months: int
    events: dict[int, int] = field(default_factory=dict)  # event id -> registrations anonymised

    @property
    def total(self) -> int:
        return sum(self.events.values())


def months_before(moment: datetime, months: int) -> datetime:
    """The same day ``months`` calendar months earlier (the 31st becomes the month's last day)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def is_anonymised(registration: Registration) -> bool:
    return registration.email_key.endswith("@" + ANONYMOUS_DOMAIN)


def _due(cutoff: datetime):
    return (
        Registration.contact_id.is_(None),
        ~Registration.email_key.endswith("@" + ANONYMOUS_DOMAIN),
        Registration.event_id.in_(select(Event.id).where(Event.ends_at < cutoff)),
    )


def anonymise_registrants(
    *, months: int | None = None, now: datetime | None = None, user_id: int | None = None, dry_run: bool = False
) -> RetentionSummary:
    """Anonymise the due registrations, one transaction per event, each event's audit entry with it."""
    months = current_app.config["REGISTRANT_RETENTION_MONTHS"] if months is None else months
    if months < 0:
        raise ValueError("months must be positive")
    summary = RetentionSummary(cutoff=months_before(now or utcnow(), months), months=months)
    due = db.session.execute(
        select(Registration.event_id, func.count())
        .where(*_due(summary.cutoff))
        .group_by(Registration.event_id)
        .order_by(Registration.event_id)
    ).all()
    if dry_run:
        summary.events = dict(due)
        db.session.rollback()
        return summary
    for event_id, _count in due:
        ids = list(
            db.session.scalars(
                for_update(select(Registration.id).where(Registration.event_id == event_id, *_due(summary.cutoff)))
            )
        )
        for start in range(0, len(ids), CHUNK):
            _anonymise(ids[start : start + CHUNK])
        record_change(
            entity_type="event",
            entity_id=event_id,
            action="anonymise",
            changes={"inscrits_anonymises": [None, len(ids)]},
            event_type="event.registrants_anonymised",
            payload={"event_id": event_id, "registration_ids": ids, "retention_months": months},
            user_id=user_id,
            origin="conservation des données",
        )
        db.session.commit()
        summary.events[event_id] = len(ids)
    return summary


def _anonymise(ids: list[int]) -> None:
    address = literal("anonyme-") + cast(Registration.id, String) + literal("@" + ANONYMOUS_DOMAIN)
    db.session.execute(
        update(Registration)
        .where(Registration.id.in_(ids))
        .values(
            first_name="Participant",
            last_name="anonymisé",
            email=address,
            email_key=address,
            name_key="",
            function=None,
            structure_name=None,
            client_ip=None,
            cancel_token_hash=None,
            token_expires_at=None,
            version=Registration.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.execute(delete(SurveyInvitation).where(SurveyInvitation.registration_id.in_(ids)))
    message_address = literal("anonyme-") + cast(EmailMessage.related_id, String) + literal("@" + ANONYMOUS_DOMAIN)
    db.session.execute(
        update(EmailMessage)
        .where(EmailMessage.related_type == "registration", EmailMessage.related_id.in_(ids))
        .values(
            to_address=message_address,
            to_name=None,
            body_html=None,
            attachments=[],
            body_text="Contenu effacé : les données personnelles de ce participant ont été anonymisées.",
        )
        .execution_options(synchronize_session=False)
    )
