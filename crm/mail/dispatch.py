"""From a committed message row to an RQ job: enqueue after the commit, never inside the transaction.

A session collects the ids of the messages it flushed (new ones, and failed ones put back to
``en_attente`` by the admin's "Renvoyer") in ``session.info``; once the transaction commits they
are enqueued, one job each; a rollback forgets them. If Redis cannot be reached the change the
user made is already committed: a warning is logged, the message stays ``en_attente`` and
:func:`crm.mail.services.sweep_pending_emails` enqueues it later.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from redis.exceptions import RedisError
from rq import Queue, Retry
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from crm.mail.models import EmailMessage
from crm.platform.queue import QueueUnavailable, get_queue, mark_unavailable

logger = logging.getLogger("crm.mail")

QUEUE = "mail"
JOB = "workflows.jobs.send_email"
# Back-off between attempts after a failed send: 30 s, 2 min, 10 min, 30 min, 1 h; then "abandonne".
RETRY_INTERVALS = (30, 120, 600, 1800, 3600)
_PENDING_KEY = "crm.mail.pending_ids"


def _to_send(message: EmailMessage, is_new: bool) -> bool:
    if message.status != "en_attente":
        return False
    return is_new or bool(inspect(message).attrs.status.history.added)


def _collect(session: Session, _flush_context) -> None:
    # The session still lists what it has just flushed as new/dirty, with ids assigned.
    ids = [obj.id for obj in session.new if isinstance(obj, EmailMessage) and _to_send(obj, True)]
    ids += [obj.id for obj in session.dirty if isinstance(obj, EmailMessage) and _to_send(obj, False)]
    if ids:
        session.info.setdefault(_PENDING_KEY, set()).update(ids)


def _enqueue_collected(session: Session) -> None:
    ids = session.info.pop(_PENDING_KEY, None)
    if ids:
        enqueue_messages(sorted(ids))


def _forget(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


def enqueue_messages(message_ids: Iterable[int]) -> int:
    """Enqueue one send job per message id (one Redis round trip); returns how many were enqueued.

    Never raises: with Redis unreachable the messages stay ``en_attente`` for the sweep.
    """
    message_ids = list(message_ids)
    if not message_ids:
        return 0
    retry = Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS))
    try:
        queue = get_queue(QUEUE)
        queue.enqueue_many(
            [
                Queue.prepare_data(
                    JOB,
                    args=(message_id,),
                    retry=retry,
                    timeout=120,
                    result_ttl=86400,
                    failure_ttl=7 * 86400,
                    description=f"email {message_id}",
                )
                for message_id in message_ids
            ]
        )
    except (QueueUnavailable, RedisError) as error:
        if isinstance(error, RedisError):
            mark_unavailable()
        logger.warning(
            "Emails %s not enqueued (%s): they stay pending until the next sweep (crm mail sweep).",
            ", ".join(map(str, message_ids)),
            error,
        )
        return 0
    return len(message_ids)


def register(session_factory) -> None:
    """Install the listeners on the app's session (Flask-SQLAlchemy's ``db.session``), once."""
    for name, listener in (
        ("after_flush", _collect),
        ("after_commit", _enqueue_collected),
        ("after_rollback", _forget),
    ):
        if not event.contains(session_factory, name, listener):
            event.listen(session_factory, name, listener)
