"""Database connections: ping a pooled connection only when it has sat idle, not on every checkout.

SQLAlchemy's ``pool_pre_ping`` costs a round trip (and two autocommit switches with psycopg)
at the start of every request: a sixth of the server's work on ``POST /api/v1/activities``.
A connection used a moment ago is as alive as the ping would say, so only one that was left
in the pool longer than ``CRM_DB_PING_AFTER_IDLE_SECONDS`` is pinged; a dead one makes the
pool reconnect, and throw away every connection older than it (a restarted server closed them
all), before the request gets it. ``pool_recycle`` replaces connections after a while whatever
happens. A connection dropped in the middle of a request is answered 503 (``crm/platform/errors.py``).
"""

from __future__ import annotations

import time

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine


def ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """Install the checkout ping on ``engine`` (whose ``pool_pre_ping`` must be off)."""

    @event.listens_for(engine, "checkin")
    def remember_checkin(_dbapi_connection, record) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection, record, _proxy) -> None:
        checked_in_at = record.info.pop("checked_in_at", None)
        if checked_in_at is None or time.monotonic() - checked_in_at < idle_seconds:
            return  # a fresh connection, or one in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise exc.InvalidatePoolError(str(error)) from error
