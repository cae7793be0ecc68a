"""Recording a change: its audit entry and its domain event, in the caller's session.

Services call :func:`record_change` before committing; the change, the audit
entry and the outbox event then share one transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from flask_login import current_user
from sqlalchemy import bindparam, insert

from crm.platform.event_types import require_known
from crm.platform.extensions import db
from crm.platform.locking import is_postgresql
from crm.platform.models import AuditEntry, OutboxEvent, utcnow

# Core inserts, not ORM objects: every change writes these two rows, and the ORM's unit of work
# (objects, identity map, a flush) cost more CPU than the change itself on the hot API paths.
_INSERT_AUDIT_ENTRY = insert(AuditEntry.__table__)
_INSERT_OUTBOX_EVENT = insert(OutboxEvent.__table__)


@cache
def _insert_audit_entry_and_event():
    """PostgreSQL: both rows in one statement (the audit entry in a data-modifying WITH), one round trip."""
    audit = AuditEntry.__table__
    audit_values = {column.name: bindparam("audit_" + column.name) for column in audit.c if column.name != "id"}
    return _INSERT_OUTBOX_EVENT.add_cte(insert(audit).values(audit_values).cte("audit_entry"))


# Set on a session that inserted outbox rows: after its commit, a worker is told (workflows.dispatch).
OUTBOX_WRITTEN = "crm.outbox_written"


def note_outbox_written(session=None) -> None:
    """Whoever inserts outbox rows says so; the after-commit hook then enqueues a drain job."""
    (session or db.session).info[OUTBOX_WRITTEN] = True


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list]:
    """``{field: [old, new]}`` for the fields whose value changed."""
    return {
        key: [_jsonable(before.get(key)), _jsonable(after.get(key))]
        for key in after
        if before.get(key) != after.get(key)
    }


def acting_user_id() -> int | None:
    try:
        if current_user and current_user.is_authenticated:
            return current_user.id
    except RuntimeError:  # outside a request (CLI, job)
        pass
    return None


def record_change(
    *,
    entity_type: str,
    entity_id: int,
    action: str,
    changes: dict | None,
    event_type: str,
    payload: dict,
    user_id: int | None = None,
    origin: str | None = None,
    parent: tuple[str, int] | None = None,
) -> None:
    """Write the audit entry and the outbox event of one change in the session's transaction.

    ``event_type`` must be in the catalogue (:mod:`crm.platform.event_types`), or :class:`UnknownEventType`
    is raised. They are inserted at once (the caller's commit or rollback decides their fate with the
    change's own rows); ``entity_id`` must therefore be known, i.e. the entity flushed.
    """
    require_known(event_type)
    user_id = user_id if user_id is not None else acting_user_id()
    now = utcnow()
    audit_entry = {
        "at": now,
        "user_id": user_id,
        "origin": origin,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "action": action,
        "changes": _jsonable(changes or {}),
        "parent_type": parent[0] if parent else None,
        "parent_id": parent[1] if parent else None,
    }
    event = {
        "type": event_type,
        "aggregate_type": entity_type,
        "aggregate_id": entity_id,
        "payload": {k: _jsonable(v) for k, v in payload.items()},
        "actor_id": user_id,
        "created_at": now,
        "processed_at": None,
        "attempts": 0,
        "last_error": None,
    }
    note_outbox_written()
    connection = db.session.connection()
    if is_postgresql(connection):
        connection.execute(
            _insert_audit_entry_and_event(), {**event, **{"audit_" + key: value for key, value in audit_entry.items()}}
        )
    else:
        connection.execute(_INSERT_AUDIT_ENTRY, audit_entry)
        connection.execute(_INSERT_OUTBOX_EVENT, event)
