"""Outgoing emails, stored before they are sent.

A message is written in the same transaction as the change that causes it (a registration,
a cancellation...), then sent by an RQ job after the commit. Nothing is silently dropped:
in the embedded default (no SMTP server configured) messages are kept here with the status
``conserve`` and listed in the admin page "Emails envoyés"; a failed send keeps its error
and the number of attempts, visible to the admin.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.platform.extensions import db
from crm.platform.models import BigId, utcnow

EMAIL_STATUSES = {
    "en_attente": "En attente d'envoi",
    "envoye": "Envoyé",
    "conserve": "Conservé (pas de serveur SMTP configuré)",
    "echec": "Échec (nouvel essai prévu)",
    "abandonne": "Échec définitif",
}

# What each kind of message is, in French, wherever a kind is shown (the admin's list, filter and message page).
# A kind not listed here (a new one, a test's) is shown as its code.
EMAIL_KINDS = {
    "registration.confirmation": "Confirmation d'inscription",
    "registration.waiting_list": "Inscription en liste d'attente",
    "registration.promotion": "Place attribuée (liste d'attente)",
    "registration.reminder": "Rappel avant l'événement",
    "registration.cancellation": "Annulation d'inscription",
    "event.cancelled": "Événement annulé",
    "event.changed": "Événement modifié",
    "survey.invitation": "Enquête de satisfaction",
}


def email_kind_label(kind: str | None) -> str:
    """The French name of a kind of email; the code itself when it has none."""
    return EMAIL_KINDS.get(kind or "", kind or "")


class EmailMessage(db.Model):
    __tablename__ = "email_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # What the message is about, e.g. "registration.confirmation"; the related record, if any.
    kind: Mapped[str] = mapped_column(String(60))
    related_type: Mapped[str | None] = mapped_column(String(40))
    related_id: Mapped[int | None] = mapped_column(Integer)
    # At most one message per key ("reminder:registration:42"): a workflow that runs twice sends once.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    to_address: Mapped[str] = mapped_column(String(254))
    to_name: Mapped[str | None] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    # [{"filename", "content_type", "content"}]: text attachments (an .ics invitation) stored as they are sent.
    attachments: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="en_attente")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(2000))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_email_messages_status", "status", "id"),
        Index("ix_email_messages_related", "related_type", "related_id"),
        Index("ix_email_messages_created_at", "created_at"),
    )

    @property
    def status_label(self) -> str:
        return EMAIL_STATUSES.get(self.status, self.status)

    @property
    def kind_label(self) -> str:
        return email_kind_label(self.kind)
