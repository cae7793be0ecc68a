"""Latency of the animator's pages at national scale: the structure page with 200 activities and the
pipeline board of one department.

    python bench/pages.py [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_pages]
                          [--reuse] [--requests 200] [--department 31] [--structure-id N] [--explain]

Unless ``--reuse`` finds a national seed there (100,000 structures, 2,000,000 activities), the
database is dropped and recreated (through the ``postgres`` maintenance database), ``pg_trgm``
enabled, the tables created, the reference data loaded and ``run_seed("national")`` run and timed,
with the CPU time used by Python and by the PostgreSQL backends (from /proc), so that a run on a
machine busy with other work still tells what two idle cores would do. Target: < 10 minutes.

A structure of the department (by default the Comminges hospital of the showcase, else the one with
the most activities) is given 200 activities if it has fewer, through the seed's bulk path. Then,
through the Flask test client logged in as an animator of the department, each page is requested
``--requests`` times after a warm-up:

- ``GET /structures/<id>`` (target p95 < 150 ms),
- ``GET /pipeline?departement=31`` (target p95 < 200 ms).

p50 / p95 / max are printed as a Markdown table, with the HTTP status and whether the page shows
what it is measured for (the structure's activity timeline, the board's columns): a page that is
missing (404) or not finished yet is measured as it is and flagged, so the script can be re-run as
is once the pages are done. One request of each page is profiled (number of SQL statements, SQL
time, slowest statements); ``--explain`` adds EXPLAIN ANALYZE of the slowest ones.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_pages"
BENCH_EMAIL = "bench.pages@example.org"
BENCH_PASSWORD = "bench-" + secrets.token_urlsafe(12)
SHOWCASE_STRUCTURE = "CENTRE HOSPITALIER DU COMMINGES PYRENEES"
TIMELINE_SIZE = 200


def recreate_database(url) -> None:
    import psycopg

    admin_dsn = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{url.database}"')
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")


def seeded(url, min_structures: int = 90_000, min_activities: int = 1_900_000) -> bool:
    import psycopg

    try:
        with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
            structures = conn.execute("SELECT count(*) FROM structures").fetchone()[0]
            activities = conn.execute("SELECT count(*) FROM activities").fetchone()[0]
    except Exception:  # noqa: BLE001 - no database or no table: recreate
        return False
    return structures >= min_structures and activities >= min_activities


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu(database: str) -> float:
    """CPU seconds used so far by the PostgreSQL backends connected to ``database``."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if cmdline.startswith("postgres:") and f" {database} " in cmdline:
                total += _cpu_seconds(int(entry.name))
    return total


def seed_national(db, database: str, scale: str = "national") -> None:
    from crm.referential.services import load_reference_data
    from crm.seed import run_seed

    db.create_all()
    load_reference_data()
    started, python_cpu = time.perf_counter(), time.process_time()
    pg_before = postgres_cpu(database)
    pg_seen = [pg_before]

    def echo(line: str) -> None:
        pg_seen.append(postgres_cpu(database))  # backends may come and go: keep the highest reading
        print(f"  [{time.perf_counter() - started:6.1f} s] {line}", flush=True)

    report = run_seed(scale, echo=echo)
    seconds = time.perf_counter() - started
    pg_cpu = max(pg_seen + [postgres_cpu(database)]) - pg_before
    print("\n".join(line for line in report if "@" not in line))  # logins: see demo_logins.txt
    python_cpu = time.process_time() - python_cpu
    print(
        f"\n**Seed {scale} : {seconds:.1f} s** (objectif national < 600 s) — CPU Python {python_cpu:.1f} s, "
        f"PostgreSQL ≥ {pg_cpu:.1f} s ; charge moyenne de la machine : {os.getloadavg()[0]:.2f}\n"
    )


def pick_structure(db, department: str, structure_id: int | None) -> int:
    from sqlalchemy import func, select

    from crm.activities.models import activity_structures
    from crm.structures.models import Structure

    if structure_id:
        return structure_id
    found = db.session.scalar(
        select(Structure.id).where(Structure.name == SHOWCASE_STRUCTURE, Structure.department_code == department)
    )
    if found:
        return found
    return db.session.execute(
        select(activity_structures.c.structure_id, func.count().label("n"))
        .join(Structure, Structure.id == activity_structures.c.structure_id)
        .where(Structure.department_code == department)
        .group_by(activity_structures.c.structure_id)
        .order_by(func.count().desc())
        .limit(1)
    ).scalar()


def shows_subject(page: str, subject: str | None) -> bool:
    """Whether the page shows the structure's latest activity (its subject, maybe shortened)."""
    from markupsafe import escape

    return bool(subject) and str(escape(subject[:25])) in page


def login(client) -> bool:
    page = client.get("/connexion").get_data(as_text=True)
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    if not match:
        return False
    response = client.post(
        "/connexion", data={"email": BENCH_EMAIL, "password": BENCH_PASSWORD, "csrf_token": match.group(1)}
    )
    return response.status_code == 302


class QueryLog:
    """SQL statements run by the app while ``active`` (listening on the engine)."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.active, self.entries = False, []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        started = conn.info["bench_started"].pop()
        if self.active:
            self.entries.append((time.perf_counter() - started, statement, parameters))


def profile(client, db, log: QueryLog, label: str, path: str, explain: bool) -> None:
    log.entries, log.active = [], True
    started = time.perf_counter()
    client.get(path)
    elapsed = time.perf_counter() - started
    log.active = False
    sql = sum(t for t, _, _ in log.entries)
    print(
        f"\n### {label} — `{path}` : {len(log.entries)} requêtes SQL, {sql * 1000:.1f} ms de SQL "
        f"sur {elapsed * 1000:.1f} ms\n"
    )
    for seconds, statement, parameters in sorted(log.entries, key=lambda e: -e[0])[:3]:
        print(f"- {seconds * 1000:.1f} ms : `{' '.join(statement.split())[:300]}`")
        if explain:
            with db.engine.connect() as conn:
                plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).scalars().all()
            print("\n```\n" + "\n".join(plan) + "\n```\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--reuse", action="store_true", help="keep the database if it already holds the national seed")
    parser.add_argument("--requests", type=int, default=200, help="measured requests per page (after warm-up)")
    parser.add_argument("--department", default="31")
    parser.add_argument("--structure-id", type=int)
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE of each page's slowest statements")
    args = parser.parse_args()

    from sqlalchemy.engine import make_url

    url = make_url(args.database_url)
    os.environ.update(
        {"CRM_ENV": "development", "SECRET_KEY": "bench-" + secrets.token_hex(16), "DATABASE_URL": args.database_url}
    )
    os.environ.setdefault("CRM_INSTANCE_DIR", tempfile.mkdtemp(prefix="maillage-bench-"))
    reuse = args.reuse and seeded(url)
    if not reuse:
        recreate_database(url)

    from sqlalchemy import func, select

    from crm import create_app
    from crm.accounts.models import User
    from crm.accounts.services import save_user
    from crm.activities.models import Activity, activity_structures
    from crm.pipeline.models import OPEN_STAGES, Opportunity
    from crm.platform.extensions import db
    from crm.seed.daily_work import add_structure_activities
    from crm.structures.models import Structure

    app = create_app()
    with app.app_context():
        if reuse:
            print("Base réutilisée : seed national non relancé.")
        else:
            seed_national(db, url.database)
        db.session.commit()
        structure_id = pick_structure(db, args.department, args.structure_id)
        count = db.session.scalar(
            select(func.count())
            .select_from(activity_structures)
            .where(activity_structures.c.structure_id == structure_id)
        )
        added = add_structure_activities(structure_id, TIMELINE_SIZE - count) if count < TIMELINE_SIZE else 0
        # What autovacuum does soon after a bulk load: planner statistics and the visibility map.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        structure = db.session.get(Structure, structure_id)
        latest = db.session.scalar(
            select(Activity.subject)
            .join(activity_structures, activity_structures.c.activity_id == Activity.id)
            .where(activity_structures.c.structure_id == structure_id)
            .order_by(Activity.occurred_on.desc(), Activity.id.desc())
            .limit(1)
        )
        totals = {
            "structures": db.session.scalar(select(func.count()).select_from(Structure)),
            "activities": db.session.scalar(select(func.count()).select_from(Activity)),
            "opportunities": db.session.scalar(select(func.count()).select_from(Opportunity)),
            "open_here": db.session.scalar(
                select(func.count())
                .select_from(Opportunity)
                .join(Structure, Structure.id == Opportunity.structure_id)
                .where(Structure.department_code == args.department, Opportunity.stage.in_(OPEN_STAGES))
            ),
        }
        print(
            f"Base : {totals['structures']} structures, {totals['activities']} activités, "
            f"{totals['opportunities']} opportunités ({totals['open_here']} ouvertes dans le "
            f"{args.department})."
        )
        print(
            f"Structure mesurée : {structure.name} (id {structure_id}), {count + added} activités"
            + (f" dont {added} ajoutées pour le benchmark." if added else ".")
        )
        user = db.session.scalar(select(User).where(User.email == BENCH_EMAIL))
        save_user(
            user,
            email=BENCH_EMAIL,
            role="animateur",
            first_name="Bench",
            last_name="Pages",
            department_codes=[args.department],
            password=BENCH_PASSWORD,
            origin="bench",
        )
        db.session.remove()

    client = app.test_client()
    if not login(client):
        sys.exit("Connexion impossible (page /connexion) : rien à mesurer.")
    pages = [
        (
            "Page structure (200 activités)",
            f"/structures/{structure_id}",
            150,
            lambda text: shows_subject(text, latest),
            "frise des activités",
        ),
        (
            f"Tableau du pipeline, dép. {args.department}",
            f"/pipeline?departement={args.department}",
            200,
            lambda text: all(label in text for label in ("Identifiée", "Qualifiée", "Proposée")),
            "colonnes par étape",
        ),
    ]
    rows = []
    with app.app_context():
        log = QueryLog(db.engine)
        for label, path, target, ready, what in pages:
            statuses, timings, text = set(), [], ""
            for index in range(args.requests + 10):  # 10 warm-up requests, not counted
                started = time.perf_counter()
                response = client.get(path)
                elapsed = (time.perf_counter() - started) * 1000
                statuses.add(response.status_code)
                if index == 0:
                    text = response.get_data(as_text=True)
                if index >= 10:
                    timings.append(elapsed)
                db.session.remove()
            status = "/".join(str(s) for s in sorted(statuses))
            shows = statuses == {200} and ready(text)
            rows.append((label, path, status, shows, what, timings, target))
            profile(client, db, log, label, path, args.explain)

    print(f"\n## Latence des pages à l'échelle nationale ({args.requests} requêtes par page, après 10 de chauffe)\n")
    print("| page | statut | prête | n | p50 (ms) | p95 (ms) | max (ms) | objectif p95 |")
    print("|---|---|---|---:|---:|---:|---:|---|")
    for label, path, status, shows, what, timings, target in rows:
        p95 = percentile(timings, 0.95)
        verdict = "atteint" if p95 < target else "NON atteint"
        print(
            f"| {label} `{path}` | {status} | {'oui' if shows else 'non : ' + what + ' absente'} | {len(timings)} "
            f"| {statistics.median(timings):.1f} | {p95:.1f} | {max(timings):.1f} | < {target} ms : {verdict} |"
        )
    missing = [label for label, _, status, shows, *_ in rows if not shows]
    if missing:
        print(
            f"\n⚠ Pages pas encore prêtes (mesurées telles quelles) : {', '.join(missing)}. "
            "Relancer avec --reuse une fois les pages terminées."
        )


if __name__ == "__main__":
    main()
