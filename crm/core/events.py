"""Recording a change: its audit entry and its domain event, in the caller's session.

Services call :func:`record_change` before committing; the change, the audit
entry and the outbox event then share one transaction.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask_login import current_user

from crm.core.models import AuditEntry, OutboxEvent
from crm.extensions import db


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
    """Add the audit entry and the outbox event of one change to the session."""
    user_id = user_id if user_id is not None else acting_user_id()
    db.session.add(
        AuditEntry(
            user_id=user_id,
            origin=origin,
            entity_type=entity_type,
            entity_id=entity_id,
            action=action,
            changes=_jsonable(changes or {}),
            parent_type=parent[0] if parent else None,
            parent_id=parent[1] if parent else None,
        )
    )
    db.session.add(
        OutboxEvent(
            type=event_type,
            aggregate_type=entity_type,
            aggregate_id=entity_id,
            payload={k: _jsonable(v) for k, v in payload.items()},
            actor_id=user_id,
        )
    )
