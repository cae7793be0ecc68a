"""Benchmark of the national usage import (target: 12 months × 100,000 structures × 1 offer under 60 s).

    .venv/bin/python bench/usage_import.py [--structures 100000] [--months 12]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/h_deploy]

Without --database-url: a temporary SQLite file. With a PostgreSQL URL, the database is dropped and created
again. Inserts the structures in bulk (with a FINESS number each), writes one CSV of every structure's figure
for every month, then times the first import (every figure created, every structure put "usage actif" with
its audit entry and event), a re-import of the same file (every figure unchanged), and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def recreate_database(url: str) -> None:
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    target = make_url(url)
    maintenance = target.set(drivername="postgresql", database="postgres")
    with psycopg.connect(maintenance.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target.database)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target.database)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--structures", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--profile", action="store_true", help="print where each import spends its time (cProfile)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-usage-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    if url.startswith("postgresql"):
        recreate_database(url)
    os.environ.update(CRM_ENV="development", SECRET_KEY=secrets.token_hex(16), DATABASE_URL=url, REDIS_URL="")

    from sqlalchemy import func, select, text

    from crm import create_app
    from crm.deployment.models import UsageFigure
    from crm.deployment.services import offer_by_code
    from crm.deployment.usage import import_usage
    from crm.platform.extensions import db
    from crm.referential.services import all_department_codes, load_reference_data
    from crm.seed.bulk import insert_structures

    app = create_app()
    with app.app_context():
        if url.startswith("postgresql"):
            with db.engine.begin() as conn:
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        db.create_all()
        load_reference_data()
        departments = all_department_codes()
        started = time.perf_counter()
        rows = [
            {
                "name": f"Structure {i}",
                "department_code": departments[i % len(departments)],
                "category": "EHPAD",
                "finess_et": f"{900000000 + i:09d}",
            }
            for i in range(args.structures)
        ]
        insert_structures(rows, origin="bench")
        db.session.commit()
        setup = time.perf_counter() - started
        months = [f"2026-{m:02d}" if m <= 12 else f"2027-{m - 12:02d}" for m in range(1, args.months + 1)]
        lines = ["finess;mois;valeur"]
        for month_index, month in enumerate(months):
            lines += [f"{900000000 + i:09d};{month};{(i + month_index) % 50}" for i in range(args.structures)]
        data = ("\n".join(lines) + "\n").encode()
        offer = offer_by_code("MSSANTE")

        def timed(name):
            profiler = cProfile.Profile() if args.profile else None
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            summary = import_usage(data, offer, source="bench.csv", origin="bench")
            seconds = time.perf_counter() - started
            if profiler:
                profiler.disable()
                print(f"--- {name} import, {seconds:.1f} s")
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
            return summary, seconds

        first, first_seconds = timed("first")
        again, again_seconds = timed("again")
        stored = db.session.scalar(select(func.count()).select_from(UsageFigure))

    print(f"Database: {url.split('@')[-1] if '@' in url else 'SQLite (temporary file)'}")
    print(f"Structures inserted in {setup:.1f} s; file: {len(data) // 1024 // 1024} MiB, {len(lines) - 1:,} lines.")
    print()
    print("| import | lines | created | unchanged | statuses moved | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, summary, seconds in (("first", first, first_seconds), ("again", again, again_seconds)):
        print(
            f"| {name} | {summary.total:,} | {summary.created:,} | {summary.unchanged:,} | {summary.statuses:,} "
            f"| {seconds:.1f} |"
        )
    print(f"\nFigures stored: {stored:,}.")


if __name__ == "__main__":
    main()
