"""Pooled connections without a ping per request: a dead idle connection is replaced, a lost one is a 503.

The server really closes the connections here (``pg_terminate_backend``), as a restart would.
"""

import time

import pytest
from sqlalchemy import create_engine, exc, text

from crm import create_app
from crm.platform.extensions import db
from crm.platform.pool import ping_idle_connections


@pytest.fixture
def postgresql(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs a PostgreSQL server to close the connection")
    return app.config["SQLALCHEMY_DATABASE_URI"]


def terminate(pid: int) -> None:
    """Close one server connection from another one (the test's own)."""
    assert db.session.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}) is True
    db.session.commit()
    time.sleep(0.1)  # the backend exits asynchronously


def backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT pg_backend_pid()"))


def test_a_connection_closed_while_idle_is_replaced_before_use(postgresql):
    engine = create_engine(postgresql, pool_size=1, max_overflow=0)
    try:
        ping_idle_connections(engine, idle_seconds=0)
        first = backend_pid(engine)
        terminate(first)
        second = backend_pid(engine)  # the ping found it dead: the pool reconnected, no error
        assert second != first
    finally:
        engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged(postgresql):
    engine = create_engine(postgresql, pool_size=1, max_overflow=0)
    try:
        ping_idle_connections(engine, idle_seconds=3600)
        terminate(backend_pid(engine))
        with pytest.raises(exc.OperationalError) as error, engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert error.value.connection_invalidated
        assert backend_pid(engine)  # the pool has dropped it: the next use reconnects
    finally:
        engine.dispose()


def test_a_connection_lost_during_an_api_request_is_a_503_then_the_next_one_works(postgresql, app):
    other = create_app(
        {
            "TESTING": True,
            "CRM_DB_PING_AFTER_IDLE_SECONDS": 3600,
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0},
        }
    )
    client = other.test_client()
    headers = {"Authorization": "Bearer mlg_unknown"}  # looked up in the database: a 401 proves it answered
    try:
        assert client.get("/api/v1/me", headers=headers).status_code == 401
        with other.app_context():
            pid = backend_pid(db.engine)
        terminate(pid)
        response = client.get("/api/v1/me", headers=headers)
        assert response.status_code == 503 and response.headers["Retry-After"] == "1"
        assert response.get_json()["error"]["status"] == 503
        assert client.get("/api/v1/me", headers=headers).status_code == 401
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()
