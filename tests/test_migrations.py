"""The Alembic migrations build exactly the schema the models describe, on the test's database kind."""

import os
import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from crm.platform.extensions import db
from tests.conftest import ROOT


@pytest.fixture
def fresh_database_url(test_env, tmp_path):
    url = make_url(test_env["DATABASE_URL"])
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    name = f"{url.database}_migration_check"  # one per test database: parallel runs do not collide
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def _flask_db(url, *args):
    env = {**os.environ, "DATABASE_URL": url}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_upgrade_matches_models_and_downgrade_works(fresh_database_url):
    _flask_db(fresh_database_url, "upgrade")
    engine = create_engine(fresh_database_url)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert differences == [], "models changed without a migration: run 'flask --app wsgi db migrate'"
    engine.dispose()
    _flask_db(fresh_database_url, "downgrade", "base")
    _flask_db(fresh_database_url, "upgrade")
