"""Sending one stored message: build the MIME message, hand it to the SMTP server, record the outcome.

Called by the RQ job ``workflows.jobs.send_email``. The row is locked while it is sent, so two
jobs for the same message (a retry and a "Renvoyer", a sweep) send it once: the second one
waits for the lock, then finds it ``envoye``.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import timedelta
from email.headerregistry import Address
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime, make_msgid

from flask import current_app
from sqlalchemy import select

from crm.mail import personal_links
from crm.mail.models import EmailMessage
from crm.platform.extensions import db
from crm.platform.locking import for_update
from crm.platform.models import utcnow

logger = logging.getLogger("crm.mail")

SENDABLE = ("en_attente", "echec")


class PermanentFailure(Exception):
    """The message can never be sent as it is (refused recipient, malformed address): no retry."""


@dataclass
class Attempt:
    """What a send job decided, for its RQ result."""

    message_id: int
    outcome: str  # "envoye", "conserve", "echec", "abandonne", "deja_traite", "introuvable"
    error: str | None = None

    def as_dict(self) -> dict:
        return {"message_id": self.message_id, "outcome": self.outcome, "error": self.error}


def _address(address: str, name: str | None = None) -> Address:
    try:
        return Address(display_name=name or "", addr_spec=address)
    except (ValueError, IndexError) as error:  # the email package's header parser raises both
        raise PermanentFailure(f"Adresse invalide : {address!r} (nom {name!r}) : {error}") from error


def _attachment_type(attachment: dict) -> tuple[str, str, dict[str, str]]:
    """``(maintype, subtype, params)`` of a stored attachment; a calendar gets its METHOD parameter."""
    content_type, *raw_params = [part.strip() for part in attachment.get("content_type", "").split(";")]
    maintype, _, subtype = (content_type or "application/octet-stream").partition("/")
    params = {}
    for raw in raw_params:
        key, _, value = raw.partition("=")
        if key and key.lower() != "charset":
            params[key.strip().lower()] = value.strip().strip('"')
    if (maintype, subtype) == ("text", "calendar") and "method" not in params:
        # Calendar clients treat the part as an invitation (or a cancellation) only with its METHOD.
        for line in attachment.get("content", "").splitlines():
            if line.upper().startswith("METHOD:"):
                params["method"] = line.split(":", 1)[1].strip().upper()
                break
    return maintype, subtype or "octet-stream", params


def build_mime(message: EmailMessage) -> MimeMessage:
    """The message as sent: UTF-8 text body (its personal link revealed), optional HTML alternative, text
    attachments (an .ics)."""
    config = current_app.config
    sender = _address(config["MAIL_FROM"], config["MAIL_FROM_NAME"])
    mime = MimeMessage()
    mime["From"] = sender
    mime["To"] = _address(message.to_address, message.to_name)
    mime["Subject"] = message.subject
    mime["Date"] = format_datetime(utcnow())
    mime["Message-ID"] = make_msgid(idstring=f"maillage.{message.id}", domain=sender.domain or None)
    # The stored copy has its personal link masked: the token goes into the message sent, nowhere else.
    mime.set_content(personal_links.reveal(message, message.body_text), charset="utf-8")
    if message.body_html:
        mime.add_alternative(personal_links.reveal(message, message.body_html), subtype="html", charset="utf-8")
    for attachment in message.attachments or []:
        maintype, subtype, params = _attachment_type(attachment)
        content = attachment.get("content", "")
        if maintype == "text":
            mime.add_attachment(
                content, subtype=subtype, charset="utf-8", params=params, filename=attachment.get("filename")
            )
        else:
            mime.add_attachment(
                content.encode("utf-8"),
                maintype=maintype,
                subtype=subtype,
                params=params,
                filename=attachment.get("filename"),
            )
    return mime


def _smtp_send(mime: MimeMessage, to_address: str) -> None:
    config = current_app.config
    smtp_class = smtplib.SMTP_SSL if config["SMTP_SSL"] else smtplib.SMTP
    with smtp_class(config["SMTP_HOST"], config["SMTP_PORT"], timeout=config["SMTP_TIMEOUT"]) as smtp:
        if config["SMTP_STARTTLS"]:
            smtp.starttls()
        if config["SMTP_USERNAME"]:
            smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
        try:
            smtp.send_message(mime, from_addr=config["MAIL_FROM"], to_addrs=[to_address])
        except smtplib.SMTPRecipientsRefused as error:
            raise PermanentFailure(f"Destinataire refusé par le serveur : {error.recipients}") from error
        except smtplib.SMTPResponseException as error:
            if 500 <= error.smtp_code < 600:
                raise PermanentFailure(
                    f"Refus définitif du serveur ({error.smtp_code}) : {error.smtp_error!r}"
                ) from error
            raise


def _log_kept(message: EmailMessage) -> None:
    logger.info(
        "Email %s kept (no SMTP_HOST configured)\nTo: %s\nSubject: %s\nAttachments: %s\n\n%s",
        message.id,
        message.to_address,
        message.subject,
        ", ".join(a.get("filename", "?") for a in message.attachments or []) or "none",
        message.body_text,
    )


def deliver(message_id: int, *, retries_left: int = 0, retry_in: int | None = None) -> Attempt:
    """Send one message if it still needs sending; record the outcome on its row.

    ``retries_left``: how many more times the job will run if this attempt raises; a transient
    failure then leaves the message ``echec`` (and the caller re-raises for RQ's back-off), the
    last one ``abandonne``. ``retry_in``: seconds until that next attempt, shown to the admin.
    """
    message = db.session.scalars(for_update(select(EmailMessage).where(EmailMessage.id == message_id))).first()
    if message is None:  # its transaction was rolled back after all (a savepoint)
        db.session.rollback()
        return Attempt(message_id, "introuvable")
    if message.status not in SENDABLE:
        db.session.rollback()
        return Attempt(message_id, "deja_traite")
    try:
        mime = build_mime(message)
        mime.as_bytes()  # some faults (a character no charset encodes) only show when it is written out
    except Exception as error:  # noqa: BLE001  (whatever the cause, building again gives the same result)
        # A line break in a name or subject, a bad address, a character no charset encodes: the
        # message can never be built, so it fails for good with its reason instead of staying
        # pending for the sweep to retry every 15 s forever. Checked without SMTP too.
        reason = error if isinstance(error, PermanentFailure) else f"{type(error).__name__} : {error}"
        return _failed(message, f"Message impossible à construire : {reason}", final=True)
    if not current_app.config["SMTP_HOST"]:
        _log_kept(message)
        message.status, message.next_attempt_at = "conserve", None
        db.session.commit()
        return Attempt(message_id, "conserve")
    try:
        _smtp_send(mime, message.to_address)
    except PermanentFailure as error:
        return _failed(message, str(error), final=True)
    except (OSError, smtplib.SMTPException) as error:  # refused connection, timeout, 4xx: try again later
        return _failed(message, f"{type(error).__name__} : {error}", final=retries_left <= 0, retry_in=retry_in)
    message.status, message.sent_at, message.next_attempt_at = "envoye", utcnow(), None
    message.attempts += 1
    db.session.commit()
    return Attempt(message_id, "envoye")


def _failed(message: EmailMessage, error: str, *, final: bool, retry_in: int | None = None) -> Attempt:
    message.attempts += 1
    message.last_error = error[:2000]
    message.status = "abandonne" if final else "echec"
    message.next_attempt_at = None if final or retry_in is None else utcnow() + timedelta(seconds=retry_in)
    db.session.commit()
    logger.warning(
        "Email %s to %s not sent (attempt %s, %s): %s",
        message.id,
        message.to_address,
        message.attempts,
        message.status,
        error,
    )
    return Attempt(message.id, message.status, error)
