"""Personal links (cancellation, survey) in emails: the stored copy keeps a placeholder, the sent one the token.

The stored message is read by admins ("Emails envoyés"), logged when no SMTP server is configured,
and kept in backups: a link there would let its reader cancel a registration or answer a survey.
So the body is written with :data:`PLACEHOLDER` where the token goes, and the token is derived
when the message is built for sending: an HMAC under ``SECRET_KEY`` of the message's identity.
The same message gives the same token however often it is sent (a retry, "Renvoyer"), and only
its hash is stored on the registration or invitation. Changing ``SECRET_KEY`` therefore voids
the links of the messages not sent yet (the persons register again, or staff resend from the
registration).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from flask import current_app

from crm.mail.models import EmailMessage
from crm.platform.extensions import db
from crm.platform.security import PERSONAL_LINK_PLACEHOLDER

# URL-safe, so that url_for writes it as it is; not a token any link ever had (those are 43 characters).
# The platform's, so that the access logs mask a link's token with the same word.
PLACEHOLDER = PERSONAL_LINK_PLACEHOLDER


def token_for(message: EmailMessage) -> str:
    """The token of ``message``'s personal link (the message is flushed first, for its id)."""
    if message.id is None:
        db.session.flush()
    identity = f"personal-link:{message.id}:{message.kind}:{message.related_type}:{message.related_id}"
    digest = hmac.new(
        current_app.config["SECRET_KEY"].encode("utf-8"), identity.encode("utf-8"), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def reveal(message: EmailMessage, text: str | None) -> str | None:
    """``text`` (a part of ``message``) as sent: the placeholder replaced by the message's token."""
    if not text or PLACEHOLDER not in text:
        return text
    return text.replace(PLACEHOLDER, token_for(message))
