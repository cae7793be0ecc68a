"""``crm backup check``: a real ``pg_dump -Fc`` of the test database, restored by the command into a scratch
database of the same server, checked there (``crm indicators check``), then dropped. PostgreSQL only."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import pytest
from sqlalchemy import func, select, text

from crm.backup import SCRATCH_PREFIX
from crm.platform.dates import local_today
from crm.platform.extensions import db
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def postgresql_only(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("pg_dump / pg_restore: PostgreSQL only (TEST_DATABASE_URL)")


def dump(path) -> None:
    url = db.engine.url
    env = {**os.environ, **({"PGPASSWORD": url.password} if url.password else {})}
    libpq = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    subprocess.run(["pg_dump", "-Fc", "--file", str(path), libpq], check=True, env=env, timeout=120)


def backup_check(test_env, path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "crm", "backup", "check", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **test_env, "PYTHONPATH": str(ROOT)},
    )


def scratch_databases() -> list[str]:
    return list(
        db.session.scalars(
            text("SELECT datname FROM pg_database WHERE datname LIKE :prefix"), {"prefix": SCRATCH_PREFIX + "%"}
        )
    )


@pytest.fixture
def records(make_user, make_structure):
    """Records with their outbox events, some processed (indicators up to date), one left pending."""
    from crm.activities.services import log_activity
    from workflows.dispatch import process_pending

    animator = make_user("animateur", ["31"])
    structures = [make_structure(name=f"Centre {i}", department_code="31") for i in range(3)]
    for structure in structures:
        log_activity(
            {"kind": "visite", "occurred_on": local_today().isoformat(), "structure_ids": [structure.id]}, user=animator
        )
    process_pending()
    log_activity(
        {"kind": "appel", "occurred_on": local_today().isoformat(), "structure_ids": [structures[0].id]}, user=animator
    )
    db.session.commit()
    return structures


def test_a_dump_restores_and_its_indicators_hold(test_env, tmp_path, records):
    path = tmp_path / "maillage.dump"
    dump(path)
    before = scratch_databases()

    result = backup_check(test_env, path)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Sauvegarde restaurée en" in output
    assert "3 structures, 4 activités" in output  # read from the restored copy
    assert "Indicateurs conformes à un recalcul complet." in output
    assert "Sauvegarde vérifiée : restaurable, indicateurs conformes." in output
    assert scratch_databases() == before  # dropped


def test_a_dump_whose_indicators_differ_fails(test_env, tmp_path, records):
    from crm.indicators.readmodel.tables import FACT_AND_CELL_TABLES

    tampered = next(
        model.__tablename__
        for model in FACT_AND_CELL_TABLES
        if db.session.scalar(select(func.count()).select_from(model))
    )
    db.session.execute(text(f"DELETE FROM {tampered}"))  # a read model that no longer matches its records
    db.session.commit()
    path = tmp_path / "maillage.dump"
    dump(path)
    before = scratch_databases()

    result = backup_check(test_env, path)

    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"{tampered}:" in output and "manquante" in output
    assert "indicateurs diffèrent" in output
    assert scratch_databases() == before


def test_what_is_not_a_maillage_dump_is_refused_in_french(test_env, tmp_path):
    before = scratch_databases()
    garbage = tmp_path / "garbage.dump"
    garbage.write_bytes(b"PGDMP? not really" * 100)
    result = backup_check(test_env, garbage)
    assert result.returncode == 2
    assert "n'est pas une sauvegarde lisible par pg_restore" in result.stderr
    assert "Traceback" not in result.stderr

    result = backup_check(test_env, tmp_path / "absent.dump")
    assert result.returncode == 2 and "Fichier introuvable" in result.stderr

    # A real dump, of a database that is not Maillage's: restored, refused, and the scratch copy dropped.
    other = tmp_path / "postgres.dump"
    url = db.engine.url.set(drivername="postgresql", password=None, database="postgres")
    subprocess.run(
        ["pg_dump", "-Fc", "--file", str(other), url.render_as_string(hide_password=False)],
        check=True,
        timeout=120,
        env={**os.environ, **({"PGPASSWORD": db.engine.url.password} if db.engine.url.password else {})},
    )
    result = backup_check(test_env, other)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "ne contient pas les tables de Maillage" in result.stderr
    assert "Base temporaire supprimée" in result.stdout
    assert scratch_databases() == before
