"""Benchmark of the FINESS import on PostgreSQL (target: a national file under 60 s).

    .venv/bin/python bench/finess_import.py [--rows 100000]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_finess]

(Re)creates the database, generates a national file over the 101 departments,
then times three imports: the first one, a re-import of the same file (all
unchanged), and a re-import of a file where ~5 % of the rows changed and ~1 %
disappeared. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_finess"


def recreate_database(url: str) -> None:
    """DROP and CREATE the database of ``url`` from the ``postgres`` maintenance database."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    target = make_url(url)
    maintenance = target.set(drivername="postgresql", database="postgres")
    with psycopg.connect(maintenance.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target.database)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target.database)))


def changed_file(rows: list[dict], seed: int = 1) -> tuple[list[dict], int, int]:
    """A later extract: ~1 % of the establishments gone, ~5 % with a new name, phone or address."""
    rng = random.Random(seed)
    kept = [dict(row) for row in rows if rng.random() >= 0.01]
    changed = 0
    for row in kept:
        if rng.random() < 0.05:
            change = rng.choice(("rs", "telephone", "voie"))
            row[change] = {
                "rs": row["rs"] + " (NOUVEAU NOM)",
                "telephone": f"05{rng.randrange(10**8):08d}",
                "voie": "DE LA LIBÉRATION",
            }[change]
            row["datemaj"] = "2024-10-01"
            changed += 1
    return kept, len(rows) - len(kept), changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()

    recreate_database(args.database_url)
    os.environ.update(
        CRM_ENV="development", SECRET_KEY=secrets.token_hex(16), DATABASE_URL=args.database_url, REDIS_URL=""
    )

    from sqlalchemy import text

    from crm import create_app
    from crm.platform.extensions import db
    from crm.referential.services import all_department_codes, load_reference_data
    from crm.seed.finess_file import generate_establishments, write_establishments
    from crm.structures.finess import import_finess

    app = create_app()
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        db.create_all()
        load_reference_data()

        with tempfile.TemporaryDirectory(prefix="bench-finess-") as tmp:
            started = time.perf_counter()
            rows = generate_establishments(all_department_codes(), args.rows, seed=0)
            first = write_establishments(Path(tmp) / "finess-v1.csv", rows)
            later_rows, removed, changed = changed_file(rows)
            later = write_establishments(Path(tmp) / "finess-v2.csv", later_rows, extract_date="2024-10-10")
            print(
                f"Files generated in {time.perf_counter() - started:.1f} s "
                f"({first.stat().st_size / 1e6:.1f} MB, Latin-1); later file: {changed} changed, "
                f"{removed} removed. {os.cpu_count()} CPU(s).",
                file=sys.stderr,
            )

            results = []
            for phase, path in (
                ("first import", first),
                ("re-import, same file", first),
                ("re-import, ~5 % changed, ~1 % removed", later),
            ):
                began = time.perf_counter()
                summary = import_finess(path, all_regions=True, origin="bench")
                seconds = time.perf_counter() - began
                results.append((phase, seconds, summary))
                print(f"{phase}: {seconds:.1f} s", file=sys.stderr)

    print("| rows | phase | seconds | rows/s | created | updated | unchanged | closed | rejected |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for phase, seconds, s in results:
        print(
            f"| {args.rows:,} | {phase} | {seconds:.1f} | {args.rows / seconds:,.0f} | {s.created:,} | "
            f"{s.updated:,} | {s.unchanged:,} | {s.closed:,} | {len(s.rejected):,} |"
        )
    slowest = max(seconds for _, seconds, _ in results)
    print(f"\nSlowest phase: {slowest:.1f} s ({'within' if slowest < 60 else 'OVER'} the 60 s target).")


if __name__ == "__main__":
    main()
