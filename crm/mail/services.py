"""Outgoing email: queue a message with its change, sweep the ones left pending, resend failed ones."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, func, or_, select

from crm.mail.dispatch import enqueue_messages
from crm.mail.models import EmailMessage
from crm.platform.events import record_change
from crm.platform.extensions import db
from crm.platform.models import utcnow
from crm.platform.paging import Page


def queue_email(
    *,
    kind: str,
    to_address: str,
    subject: str,
    body_text: str,
    to_name: str | None = None,
    body_html: str | None = None,
    attachments: list[dict] | tuple = (),
    related: tuple[str, int] | None = None,
    dedupe_key: str | None = None,
    created_by_id: int | None = None,
) -> EmailMessage | None:
    """Add a message to send to the session (the caller commits); sending happens in an RQ job.

    ``attachments``: ``{"filename", "content_type", "content"}`` with text content (an .ics).
    With a ``dedupe_key`` already used, nothing is added and None is returned: a message is sent
    once per key however many times the cause is processed.
    """
    if (
        dedupe_key is not None
        and db.session.scalar(select(EmailMessage.id).where(EmailMessage.dedupe_key == dedupe_key)) is not None
    ):
        return None
    message = EmailMessage(
        kind=kind,
        to_address=to_address.strip(),
        to_name=to_name,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        attachments=list(attachments),
        related_type=related[0] if related else None,
        related_id=related[1] if related else None,
        dedupe_key=dedupe_key,
        created_by_id=created_by_id,
        status="en_attente",
    )
    db.session.add(message)
    return message


# A message younger than this is probably on its way through its own job: the sweep leaves it alone.
SWEEP_GRACE = timedelta(minutes=2)


def sweep_pending_emails(grace: timedelta = SWEEP_GRACE) -> int:
    """Enqueue again the messages that never reached the queue (Redis was down at commit) or
    whose scheduled retry was lost (Redis flushed); returns how many were enqueued.

    Safe to run at any time, as often as wanted: a message enqueued twice is sent once.
    """
    cutoff = utcnow() - grace
    ids = db.session.scalars(
        select(EmailMessage.id)
        .where(
            or_(
                and_(EmailMessage.status == "en_attente", EmailMessage.created_at <= cutoff),
                and_(EmailMessage.status == "echec", EmailMessage.next_attempt_at <= cutoff),
            )
        )
        .order_by(EmailMessage.id)
    ).all()
    db.session.rollback()
    return enqueue_messages(ids)


def can_resend(message: EmailMessage) -> bool:
    return message.status in ("echec", "abandonne")


def resend_email(message: EmailMessage, *, user_id: int | None = None) -> None:
    """Put a failed message back in line (the admin's "Renvoyer"); its job is enqueued after the commit."""
    if not can_resend(message):
        raise ValueError("Seul un email en échec peut être renvoyé.")
    before = message.status
    message.status, message.next_attempt_at = "en_attente", None
    record_change(
        entity_type="email_message",
        entity_id=message.id,
        action="update",
        changes={"status": [before, "en_attente"]},
        event_type="email.resend_requested",
        payload={"email_message_id": message.id, "kind": message.kind},
        user_id=user_id,
    )
    db.session.commit()


def status_counts() -> dict[str, int]:
    """Number of messages per status, for the admin page's header."""
    rows = db.session.execute(select(EmailMessage.status, func.count()).group_by(EmailMessage.status))
    return {status: count for status, count in rows}


def list_messages(*, status: str | None = None, kind: str | None = None, page: int = 1, per_page: int = 50) -> Page:
    """Newest first, filtered, one page."""
    query = select(EmailMessage)
    if status:
        query = query.where(EmailMessage.status == status)
    if kind:
        query = query.where(EmailMessage.kind == kind)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    messages = db.session.scalars(
        query.order_by(EmailMessage.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return Page(items=list(messages), total=total, page=page, per_page=per_page)


def known_kinds() -> list[str]:
    return list(db.session.scalars(select(EmailMessage.kind).distinct().order_by(EmailMessage.kind)))
