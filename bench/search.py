"""Search latency at national scale (100,000 FINESS establishments + partners).

    python bench/search.py [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_search]
                           [--reuse] [--rounds 30] [--explain]

Unless ``--reuse`` finds the data already there, the database is dropped and recreated
(through the ``postgres`` maintenance database), ``pg_trgm`` enabled, the tables created,
reference data loaded and ``run_seed("national")`` run and timed. Then the real page
``GET /structures?q=...`` (and ``/structures/autocomplete``) is requested through the Flask
test client, logged in as an animator, with a realistic query mix; p50 / p95 / max are
printed as a Markdown table. Target: p95 < 50 ms. ``--explain`` adds EXPLAIN ANALYZE of the
search queries.
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
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_search"
BENCH_EMAIL = "bench.animateur@example.org"
BENCH_PASSWORD = "bench-" + secrets.token_urlsafe(12)


def recreate_database(url) -> None:
    """DROP + CREATE the database through the maintenance DB, then enable pg_trgm."""
    import psycopg

    admin_dsn = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{url.database}"')
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def query_mix(db) -> list[tuple[str, str, dict]]:
    """(label, path, params): what animators type, with and without a department filter."""
    from sqlalchemy import select

    from crm.structures.models import Structure

    finess = db.session.scalar(
        select(Structure.finess_et).where(Structure.finess_et.like("34%")).order_by(Structure.finess_et).limit(1)
    )
    mix = [
        ("ehpad saint gaudens", {"q": "ehpad saint gaudens"}),
        ("ehpad saint gaudens, dép. 31", {"q": "ehpad saint gaudens", "departement": "31"}),
        ("centre hospitalier", {"q": "centre hospitalier"}),
        ("centre hospitalier, dép. 31", {"q": "centre hospitalier", "departement": "31"}),
        ("n° FINESS", {"q": finess}),
        ("pharmacie toulouse", {"q": "pharmacie toulouse"}),
        ("ehpad", {"q": "ehpad"}),
        ("ehpad, dép. 31", {"q": "ehpad", "departement": "31"}),
        ("ssiad", {"q": "ssiad"}),
        ("nom de lieu : oustal", {"q": "oustal"}),
        ("mot rare : capitole", {"q": "capitole"}),
        ("mot rare : comminges, dép. 31", {"q": "comminges", "departement": "31"}),
        ("sans résultat : zzkq", {"q": "zzkq"}),
        ("liste sans recherche", {}),
        ("liste, dép. 31", {"departement": "31"}),
    ]
    out = [(label, "/structures", params) for label, params in mix]
    out += [
        (f"autocomplete « {q} »", "/structures/autocomplete", {"q": q})
        for q in ("ehpad saint", "centre hosp", "oustal", "ssiad tou")
    ]
    return out


def login(client) -> bool:
    html = client.get("/connexion").get_data(as_text=True)
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    if not match:
        return False
    response = client.post(
        "/connexion", data={"email": BENCH_EMAIL, "password": BENCH_PASSWORD, "csrf_token": match.group(1)}
    )
    return response.status_code == 302


def explain(db, mix) -> None:
    from sqlalchemy import func, select

    from crm.structures.models import Structure
    from crm.structures.services import structure_filters

    for label, path, params in mix:
        if path != "/structures" or not params.get("q"):
            continue
        clauses = structure_filters(params.get("q"), params.get("departement"), None, None, "ouvertes")
        # The query search_structures runs for a search: ids and total in one pass (see its comments).
        stmt = (
            select(Structure.id, func.count().over())
            .where(*clauses)
            .order_by(Structure.name.concat(""), Structure.id)
            .limit(25)
        )
        sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True})).replace("%%", "%")
        raw = db.engine.raw_connection()  # plain psycopg: no placeholder parsing
        try:
            cursor = raw.cursor()
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}".encode())
            plan = [row[0] for row in cursor.fetchall()]
        finally:
            raw.close()
        print(f"\n### {label}\n```\n" + "\n".join(plan) + "\n```")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--reuse", action="store_true", help="keep the database if it already holds the data")
    parser.add_argument("--rounds", type=int, default=25, help="passes over the query mix (19 queries each)")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the search queries")
    args = parser.parse_args()

    from sqlalchemy.engine import make_url

    url = make_url(args.database_url)
    os.environ.update(
        {"CRM_ENV": "development", "SECRET_KEY": "bench-" + secrets.token_hex(16), "DATABASE_URL": args.database_url}
    )
    os.environ.setdefault("CRM_INSTANCE_DIR", tempfile.mkdtemp(prefix="maillage-bench-"))

    reuse = False
    if args.reuse:
        try:
            import psycopg

            with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
                reuse = (conn.execute("SELECT count(*) FROM structures").fetchone()[0] or 0) >= 90_000
        except Exception:  # noqa: BLE001 - no database or no table: recreate
            reuse = False
    if not reuse:
        recreate_database(url)

    from sqlalchemy import func, select

    from crm import create_app
    from crm.accounts.models import User
    from crm.accounts.services import save_user
    from crm.platform.extensions import db
    from crm.referential.services import load_reference_data
    from crm.structures.models import Structure
    from crm.structures.services import autocomplete, search_structures

    app = create_app()
    with app.app_context():
        if reuse:
            print("Base réutilisée : seed national non relancé.")
        else:
            db.create_all()
            load_reference_data()
            from crm.seed import run_seed

            started = time.perf_counter()
            report = run_seed("national", echo=lambda line: print("  " + line))
            seed_seconds = time.perf_counter() - started
            print("\n".join(line for line in report if "@" not in line))  # logins: see demo_logins.txt
            print(f"\n**Seed national : {seed_seconds:.1f} s**\n")
        db.session.commit()
        # What autovacuum does soon after a bulk load in production: statistics for the planner,
        # and the visibility map that lets counts use index-only scans.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        total = db.session.scalar(select(func.count()).select_from(Structure))
        print(f"Structures en base : {total}")

        user = db.session.scalar(select(User).where(User.email == BENCH_EMAIL))
        save_user(
            user,
            email=BENCH_EMAIL,
            role="animateur",
            first_name="Bench",
            last_name="Animateur",
            department_codes=["31", "09"],
            password=BENCH_PASSWORD,
            origin="bench",
        )
        mix = query_mix(db)
        db.session.remove()

    client = app.test_client()
    through_pages = login(client)
    if not through_pages:
        print("\n⚠ Page de connexion indisponible : mesure du service search_structures, pas de la page.")
    timings: dict[str, list[float]] = {label: [] for label, _, _ in mix}
    hits: dict[str, int] = {}
    with app.app_context():
        for round_ in range(args.rounds + 1):  # round 0 warms caches up and is not counted
            for label, path, params in mix:
                started = time.perf_counter()
                if through_pages:
                    response = client.get(path + ("?" + urlencode(params) if params else ""))
                    assert response.status_code == 200, (label, response.status_code)
                elif path == "/structures":
                    page = search_structures(params.get("q"), department=params.get("departement"))
                    hits[label] = page.total
                else:
                    autocomplete(params["q"])
                elapsed = (time.perf_counter() - started) * 1000
                if round_:
                    timings[label].append(elapsed)
            db.session.remove()
        if not hits:
            for label, path, params in mix:
                if path == "/structures":
                    hits[label] = search_structures(params.get("q"), department=params.get("departement")).total
                else:
                    hits[label] = len(autocomplete(params["q"]))

    every = [t for values in timings.values() for t in values]
    what = "page GET" if through_pages else "service search_structures"
    print(f"\n## Latence de recherche ({what}, {total} structures, {len(every)} requêtes)\n")
    print("| requête | résultats | n | p50 (ms) | p95 (ms) | max (ms) |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, values in timings.items():
        print(
            f"| {label} | {hits.get(label, '')} | {len(values)} | {statistics.median(values):.1f} | "
            f"{percentile(values, 0.95):.1f} | {max(values):.1f} |"
        )
    p95 = percentile(every, 0.95)
    print(f"| **toutes** | | {len(every)} | {statistics.median(every):.1f} | **{p95:.1f}** | {max(every):.1f} |")
    print(f"\nObjectif p95 < 50 ms : {'atteint' if p95 < 50 else 'NON atteint'}.")
    if args.explain:
        with app.app_context():
            explain(db, mix)


if __name__ == "__main__":
    main()
