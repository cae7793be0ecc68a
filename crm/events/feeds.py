"""Calendar feeds: the public feed of published events, and each staff member's personal feed.

A personal feed is read by calendar clients that cannot log in, so its URL carries a secret:
an itsdangerous token signed with SECRET_KEY (salt "calendar-feed") holding the user id and a
short fingerprint of the password hash. Changing the password changes the fingerprint, which
revokes every URL given out before; nothing is stored, so there is no table to keep in sync.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select

from crm.accounts.models import User
from crm.events.ics import feed_calendar
from crm.events.models import Event, as_utc
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, utcnow
from crm.tasks.models import Task

SALT = "calendar-feed"
# Events that ended longer ago than this drop out of the feeds: they stay small however long the history.
FEED_HISTORY = timedelta(days=365)
PUBLIC_STATUSES = ("publie", "clos", "annule")


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _fingerprint(user: User) -> str:
    # A new password or a deactivation changes it: the old URL is refused from then on.
    return hashlib.sha256(f"{user.password_hash}:{user.feed_version or 0}".encode()).hexdigest()[:16]


def feed_token(user: User) -> str:
    """The secret part of ``user``'s personal feed URL; stable until their password changes."""
    return _serializer().dumps([user.id, _fingerprint(user)])


def user_for_token(token: str) -> User | None:
    """The active user a token was issued to, or None (forged, revoked by a new password, account closed)."""
    try:
        user_id, fingerprint = _serializer().loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(user_id, int) or not isinstance(fingerprint, str) or not 1 <= user_id <= 2**31 - 1:
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.active or not hmac.compare_digest(fingerprint, _fingerprint(user)):
        return None
    return user


def public_feed() -> bytes:
    """Published events (and those closed or cancelled after publication) from the last year on."""
    since = utcnow() - FEED_HISTORY
    events = db.session.scalars(
        select(Event)
        .where(Event.status.in_(PUBLIC_STATUSES), Event.ends_at >= since)
        .order_by(Event.starts_at, Event.id)
    ).all()
    name = f"Événements {current_app.config['CRM_ORGANISATION_NAME']}"
    return feed_calendar(name, events, description="Journées TOP e-santé, webinaires, ateliers et rencontres.")


def _task_changes(task_ids: list[int]) -> dict[int, tuple[int, object]]:
    """``{task id: (number of changes after creation, time of the last one)}`` from the audit trail."""
    if not task_ids:
        return {}
    rows = db.session.execute(
        select(AuditEntry.entity_id, func.count(), func.max(AuditEntry.at))
        .where(AuditEntry.entity_type == "task", AuditEntry.entity_id.in_(task_ids))
        .group_by(AuditEntry.entity_id)
    )
    return {entity_id: (max(count - 1, 0), as_utc(last)) for entity_id, count, last in rows}


def personal_feed(user: User) -> bytes:
    """The events ``user`` organises (drafts included: they are theirs) and their open tasks with a due date."""
    since = utcnow() - FEED_HISTORY
    events = db.session.scalars(
        select(Event).where(Event.organiser_id == user.id, Event.ends_at >= since).order_by(Event.starts_at, Event.id)
    ).all()
    tasks = db.session.scalars(
        select(Task)
        .where(Task.owner_id == user.id, Task.done_at.is_(None), Task.due_on.is_not(None), Task.due_on >= since.date())
        .order_by(Task.due_on, Task.id)
    ).all()
    changes = _task_changes([task.id for task in tasks])
    return feed_calendar(
        f"Maillage – {user.display_name}",
        events,
        [(task, *changes.get(task.id, (0, None))) for task in tasks],
        description="Vos événements et vos relances à échéance.",
        private=True,
    )
