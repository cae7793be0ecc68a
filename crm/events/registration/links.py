"""Personal links: the emailed link a registrant cancels with (or leaves the waiting list, or gives a seat back).

Only the token's hash is stored; the token is only in the email as sent (:mod:`crm.mail.personal_links`).
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import select, update

from crm.events.models import ATTENDANCE_STATUSES, Registration, as_utc
from crm.events.registration import emails
from crm.mail import personal_links
from crm.mail.models import EmailMessage
from crm.platform.extensions import db
from crm.platform.models import utcnow


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


PERSONAL_LINK_EMAILS = {
    "confirmation": emails.confirmation,
    "attente": emails.waiting_list,
    "promotion": emails.promotion,
}


def send_personal_link(
    registration: Registration, email: str, *, dedupe_key: str, user_id: int | None = None, again: bool = False
) -> EmailMessage | None:
    """Queue the registration's email of kind ``email`` ("confirmation", "attente" or "promotion") with a
    new personal link, in the caller's transaction; None if ``dedupe_key`` was used already.
    ``again``: the person registered again (the email says they already were).

    The new link replaces the previous one (only its hash is stored, and the token is only in the
    email as sent: see :mod:`crm.mail.personal_links`); the hash is written without raising the
    registration's version, so that staff editing the registration meanwhile are not told it changed
    under them.
    """
    event = registration.event
    extra = {"again": True} if again else {}
    message = PERSONAL_LINK_EMAILS[email](registration, user_id=user_id, dedupe_key=dedupe_key, **extra)
    if message is None:
        return None
    db.session.execute(
        update(Registration)
        .where(Registration.id == registration.id)
        .values(cancel_token_hash=hash_token(personal_links.token_for(message)), token_expires_at=as_utc(event.ends_at))
        .execution_options(synchronize_session="fetch")
    )
    return message


def by_token(token: str | None) -> tuple[Registration | None, str]:
    """The registration of a personal link and its state: "valide", "annulee", "expiree" or "inconnue"."""
    if not token or not isinstance(token, str) or len(token) > 100:
        return None, "inconnue"
    digest = hash_token(token)
    registration = db.session.scalar(select(Registration).where(Registration.cancel_token_hash == digest))
    if registration is None or not hmac.compare_digest(registration.cancel_token_hash, digest):
        return None, "inconnue"
    if registration.status == "annule":
        return registration, "annulee"
    if registration.token_expires_at and utcnow() >= as_utc(registration.token_expires_at):
        return registration, "expiree"
    if registration.event.status in ("annule", "clos") or registration.status in ATTENDANCE_STATUSES:
        return registration, "expiree"
    return registration, "valide"
