"""The indicators at region or national scale: full rebuild time and dashboard latency, each beside its floor.

    python bench/indicators.py [--scale national|region] [--database-url URL] [--reuse] [--requests 100]

National: the database of bench/pages.py (``bench_national``), seeded by it if ``--reuse`` does not find the
national seed (2,000,000 activities, 200,000 opportunities). Region: ``bench_region`` with ``run_seed("region")``.

1. ``rebuild()`` (what ``crm indicators rebuild`` runs), timed twice (target national < 30 s). Floor: one
   hand-written SQL aggregate over the same tables, the distinct structure-days of information activities per
   department (the largest join the rebuild makes), timed the same way.
2. The manager's dashboard (``GET /tableau-de-bord``, this year, whole region; and one department), through the
   Flask test client logged in as a manager, ``--requests`` times after a warm-up: p50/p95 (target national
   p95 < 200 ms). Floor: the same three indicators computed by hand-written SQL from the raw tables (what a
   dashboard without the read model would have to run), timed over the same number of runs.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pages import QueryLog, percentile, postgres_cpu, profile, recreate_database, seed_national, seeded  # noqa: E402

DEFAULT_URLS = {
    "national": "postgresql+psycopg://postgres@127.0.0.1:5432/bench_national",
    "region": "postgresql+psycopg://postgres@127.0.0.1:5432/bench_region",
}
EMAIL, PASSWORD = "bench.indicateurs@example.org", "bench-" + secrets.token_urlsafe(12)

# The three indicators for one year and a set of departments, straight from the records.
RAW_SQL = """
WITH scope AS (SELECT unnest(CAST(:departments AS text[])) AS code),
participation AS (
  SELECT count(DISTINCT ast.structure_id) AS n
  FROM activities a JOIN activity_structures ast ON ast.activity_id = a.id
  JOIN structures s ON s.id = ast.structure_id JOIN sectors sec ON sec.id = s.sector_id
  WHERE a.is_information AND a.occurred_on BETWEEN :start AND :end
    AND s.department_code IN (SELECT code FROM scope) AND sec.code IN ('sanitaire', 'medico_social')),
open_es AS (
  SELECT count(*) AS n FROM structures s JOIN sectors sec ON sec.id = s.sector_id
  WHERE s.is_open AND s.department_code IN (SELECT code FROM scope) AND sec.code IN ('sanitaire', 'medico_social')),
cohort AS (
  SELECT count(*) AS opportunities, count(p.id) AS transformed
  FROM opportunities o LEFT JOIN projects p ON p.opportunity_id = o.id
  WHERE o.identified_on BETWEEN :start AND :end AND o.department_code IN (SELECT code FROM scope)),
engaged AS (
  SELECT count(DISTINCT (p.structure_id, p.programme_id)) AS n FROM projects p
  WHERE p.status IN ('en_cours', 'termine') AND p.started_on <= :end AND p.department_code IN (SELECT code FROM scope))
SELECT participation.n, open_es.n, cohort.opportunities, cohort.transformed, engaged.n
FROM participation, open_es, cohort, engaged
"""
FLOOR_REBUILD_SQL = """
SELECT s.department_code, count(*) FROM (
  SELECT DISTINCT ast.structure_id, a.occurred_on FROM activities a
  JOIN activity_structures ast ON ast.activity_id = a.id WHERE a.is_information) d
JOIN structures s ON s.id = d.structure_id GROUP BY s.department_code
"""


def seed_region(db) -> None:
    from crm.referential.services import load_reference_data
    from crm.seed import run_seed

    db.create_all()
    load_reference_data()
    started = time.perf_counter()
    run_seed("region", echo=lambda line: print(f"  {line}", flush=True))
    print(f"Seed région : {time.perf_counter() - started:.1f} s")


def timed(function, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=("national", "region"), default="national")
    parser.add_argument("--database-url")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--department", default="31")
    parser.add_argument("--only", choices=("rebuild", "dashboard"), help="measure only one of the two")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the slowest statements of a request")
    args = parser.parse_args()

    from sqlalchemy.engine import make_url

    database_url = args.database_url or DEFAULT_URLS[args.scale]
    url = make_url(database_url)
    os.environ.update(
        {"CRM_ENV": "development", "SECRET_KEY": "bench-" + secrets.token_hex(16), "DATABASE_URL": database_url}
    )
    os.environ.setdefault("CRM_INSTANCE_DIR", tempfile.mkdtemp(prefix="maillage-bench-"))
    reuse = args.reuse and (seeded(url) if args.scale == "national" else _has_activities(url))
    if not reuse:
        recreate_database(url)

    from sqlalchemy import select, text

    from crm import create_app
    from crm.accounts.models import User
    from crm.accounts.services import save_user
    from crm.indicators.readmodel.rebuild import rebuild, row_counts
    from crm.platform.dates import local_today
    from crm.platform.extensions import db
    from crm.referential.services import region_department_codes

    app = create_app()
    with app.app_context():
        if not reuse:
            seed_national(db, url.database) if args.scale == "national" else seed_region(db)
        db.create_all()  # a database seeded by an earlier version lacks the newer tables (no migrations here)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        print(f"Machine : charge moyenne {os.getloadavg()[0]:.2f} au départ.")

        rows, steps = [], []
        for run in (1, 2) if args.only != "dashboard" else ():
            cpu, pg = time.process_time(), postgres_cpu(url.database)
            started = time.perf_counter()
            timings: dict[str, float] = {}
            rebuild(timings)
            seconds = time.perf_counter() - started
            steps.append(timings)
            rows.append(
                (
                    f"reconstruction complète ({run})",
                    seconds * 1000,
                    None,
                    f"CPU Python {time.process_time() - cpu:.1f} s, "
                    f"PostgreSQL ≥ {postgres_cpu(url.database) - pg:.1f} s",
                )
            )
        if args.only != "dashboard":
            floor = timed(lambda: db.session.execute(text(FLOOR_REBUILD_SQL)).all(), 2)
            db.session.rollback()
            rows.append(
                (
                    "plancher : un agrégat SQL écrit à la main",
                    min(floor),
                    None,
                    "structures-jours d'information par département",
                )
            )
            print(
                "\nLignes du modèle de lecture :",
                ", ".join(f"{k} {v:,}".replace(",", " ") for k, v in row_counts().items()),
            )
        if args.only == "rebuild":
            print_rebuild(args, url, rows, steps)
            return

        user = db.session.scalar(select(User).where(User.email == EMAIL))
        save_user(
            user,
            email=EMAIL,
            role="manager",
            department_codes=[],
            password=PASSWORD,
            first_name="Bench",
            last_name="Indicateurs",
        )
        client = app.test_client()
        page = client.get("/connexion").get_data(as_text=True)
        import re

        token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        assert (
            client.post("/connexion", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token}).status_code
            == 302
        )
        year = local_today().year
        region = region_department_codes()
        log = QueryLog(db.engine)
        latencies = []
        for label, path in (
            ("tableau de bord, région, année", f"/tableau-de-bord?periode=annee&debut={year}-01-01"),
            (
                f"tableau de bord, département {args.department}",
                f"/tableau-de-bord?periode=annee&debut={year}-01-01&departement={args.department}",
            ),
        ):
            for _ in range(5):
                assert client.get(path).status_code == 200
            measured = timed(lambda path=path: client.get(path), args.requests)
            latencies.append((label, measured))
            profile(client, db, log, label, path, args.explain)
        raw = timed(
            lambda: db.session.execute(
                text(RAW_SQL), {"departments": region, "start": f"{year}-01-01", "end": f"{year}-12-31"}
            ).all(),
            max(5, args.requests // 10),
        )
        db.session.rollback()

    print_rebuild(args, url, rows, steps)
    print("\n| page | requêtes | p50 | p95 | max |\n|---|---:|---:|---:|---:|")
    for label, values in latencies:
        print(
            f"| {label} | {len(values)} | {percentile(values, 0.5):.0f} ms | {percentile(values, 0.95):.0f} ms | "
            f"{max(values):.0f} ms |"
        )
    print(
        "| plancher : les trois indicateurs en SQL écrit à la main sur les tables brutes (région, année) "
        f"| {len(raw)} | "
        f"{percentile(raw, 0.5):.0f} ms | {percentile(raw, 0.95):.0f} ms | {max(raw):.0f} ms |"
    )
    print(f"\nCharge moyenne en fin de mesure : {os.getloadavg()[0]:.2f}")


def print_rebuild(args, url, rows, steps) -> None:
    print(f"\n## Indicateurs – échelle {args.scale} ({url.database})\n")
    if rows:
        print("| mesure | durée | détail |\n|---|---:|---|")
        for label, ms, _, detail in rows:
            print(f"| {label} | {ms / 1000:.1f} s | {detail} |")
    if steps:
        print(
            "\n| étape de la reconstruction | "
            + " | ".join(f"run {i + 1}" for i in range(len(steps)))
            + " |\n|---|"
            + "---:|" * len(steps)
        )
        for name in steps[0]:
            print(f"| {name} | " + " | ".join(f"{run[name]:.2f} s" for run in steps) + " |")


def _has_activities(url) -> bool:
    import psycopg

    try:
        with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
            return conn.execute("SELECT count(*) FROM activities").fetchone()[0] > 10_000
    except Exception:  # noqa: BLE001
        return False


if __name__ == "__main__":
    main()
