"""``flask --app wsgi crm backup check FILE``: prove that a backup restores, and that what it restores holds.

A dump made with ``pg_dump -Fc`` is restored with ``pg_restore`` into a scratch database created for the
occasion on the app's PostgreSQL server (a unique name, ``maillage_verif_…``); ``crm indicators check
--process-pending`` then runs there, in another process, without Redis nor SMTP (the events still pending
in the dump are processed in the copy only); the scratch database is dropped in every case. See
docs/backup.md for the whole procedure (what else to back up: ``instance/`` uploads, the secrets).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from crm.platform.formatting import format_number

SCRATCH_PREFIX = "maillage_verif_"
# Tables whose row counts the report gives, as a sanity check of what was restored.
COUNTED = (
    ("users", "comptes"),
    ("structures", "structures"),
    ("activities", "activités"),
    ("opportunities", "opportunités"),
    ("events", "événements"),
    ("outbox_events", "événements métier"),
)


class BackupCheckError(RuntimeError):
    """The check could not be run (no PostgreSQL, no pg_restore, a file that is not a dump): a French message."""


@dataclass
class CheckReport:
    database: str
    restore_seconds: float = 0.0
    schema_version: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    indicators_ok: bool = False
    indicators_output: str = ""


def _libpq(url: URL) -> tuple[str, dict]:
    """A URL for the PostgreSQL tools (no driver, no password: that goes in PGPASSWORD, not in argv)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupCheckError(f"{name} est introuvable : installez les outils clients de PostgreSQL.")
    return found


def scratch_name() -> str:
    return f"{SCRATCH_PREFIX}{datetime.now():%Y%m%d_%H%M%S}_{secrets.token_hex(3)}"


def check_backup(path: str | Path, database_url: str, echo=print, keep: bool = False) -> CheckReport:
    """Restore the dump at ``path`` into a scratch database of ``database_url``'s server, check it, drop it."""
    path = Path(path)
    if not path.is_file():
        raise BackupCheckError(f"Fichier introuvable : {path}")
    server = make_url(database_url)
    if server.get_backend_name() != "postgresql":
        raise BackupCheckError(
            "La vérification d'une sauvegarde demande PostgreSQL (DATABASE_URL) : "
            "une base SQLite se sauvegarde en copiant son fichier."
        )
    listed = subprocess.run([_tool("pg_restore"), "--list", str(path)], capture_output=True, text=True)
    if listed.returncode != 0:
        raise BackupCheckError(
            f"{path.name} n'est pas une sauvegarde lisible par pg_restore (pg_dump -Fc) : {listed.stderr.strip()[:300]}"
        )
    report = CheckReport(database=scratch_name())
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{report.database}"'))
        echo(f"Base temporaire créée : {report.database}")
        try:
            _restore_and_check(path, server.set(database=report.database), report, echo)
        finally:
            if keep:
                echo(f"Base temporaire conservée : {report.database}")
            else:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{report.database}" WITH (FORCE)'))
                echo(f"Base temporaire supprimée : {report.database}")
    finally:
        admin.dispose()
    return report


def _restore_and_check(path: Path, scratch: URL, report: CheckReport, echo) -> None:

    target, env = _libpq(scratch)
    started = time.perf_counter()
    restored = subprocess.run(
        [_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--dbname", target, str(path)],
        capture_output=True,
        text=True,
        env=env,
    )
    report.restore_seconds = time.perf_counter() - started
    if restored.returncode != 0:
        raise BackupCheckError(f"La restauration a échoué : {restored.stderr.strip()[:500]}")
    echo(f"Sauvegarde restaurée en {format_number(report.restore_seconds, 1)} s.")

    engine = create_engine(scratch)
    try:
        with engine.connect() as connection:
            tables = set(
                connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()
            )
            if "alembic_version" in tables:
                report.schema_version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            for table, _label in COUNTED:
                if table in tables:
                    report.counts[table] = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
    finally:
        engine.dispose()
    missing = [table for table, _label in COUNTED if table not in report.counts]
    if missing:
        raise BackupCheckError(f"La sauvegarde ne contient pas les tables de Maillage ({', '.join(missing)}).")
    echo(f"Version du schéma : {report.schema_version or 'inconnue (pas de table alembic_version)'}")
    echo("Contenu : " + ", ".join(f"{format_number(report.counts[table])} {label}" for table, label in COUNTED))

    # In another process, on the copy only: no Redis (nothing is enqueued), no SMTP (nothing is sent).
    root = Path(__file__).resolve().parent.parent
    target_url = scratch.render_as_string(hide_password=False)
    checked = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "crm", "indicators", "check", "--process-pending"],
        cwd=root,
        capture_output=True,
        text=True,
        env={**env, "DATABASE_URL": target_url, "REDIS_URL": "", "SMTP_HOST": "", "PYTHONPATH": str(root)},
    )
    report.indicators_ok = checked.returncode == 0
    report.indicators_output = (checked.stdout + checked.stderr).strip()
    if checked.returncode not in (0, 1):
        raise BackupCheckError(f"crm indicators check n'a pas pu s'exécuter : {report.indicators_output[-500:]}")
    echo("crm indicators check : " + ("conforme" if report.indicators_ok else "ÉCARTS"))
    for line in report.indicators_output.splitlines():
        echo(f"  {line}")
