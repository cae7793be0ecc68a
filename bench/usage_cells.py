"""The active usage rate's read model at national scale: the services view, the consumer after a national usage
import, and the rebuild (targets: the services view p95 < 150 ms; the consumer's work bounded by the import).

    .venv/bin/python bench/usage_cells.py [--structures 100000] [--months 12] [--requests 100]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_usage_cells]

The database is dropped and created again (through the ``postgres`` maintenance database). The structures are
inserted in bulk, half of them EHPAD (the population of every offer here), then 12 months of figures for each
of 5 offers and each eligible structure (a third of them always at zero, the others in three months
of five), by one INSERT ... SELECT: 3,000,000 figures at
the default size. Then, timed:

- the rebuild of the usage cells (every offer),
- the consumer after a national import of one offer (its ``usage.imported`` event: 12 months × every
  structure), after an API push of one figure, after a structure that moves department,
- the active counts of one period as the services view counted them before the cells (from the figures),
- ``GET /tableau-de-bord/services`` through the Flask test client logged in as a manager, each time for another
  offer and month (p50 / p95 / max),

and checks that the cells equal the direct count for every offer and period. Prints a Markdown table.
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
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_usage_cells"
EMAIL = "bench.services@example.org"
PASSWORD = "bench-" + secrets.token_urlsafe(12)
OFFERS = 5


def recreate_database(url: str) -> None:
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    target = make_url(url)
    maintenance = target.set(drivername="postgresql", database="postgres")
    with psycopg.connect(maintenance.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target.database)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target.database)))


class Event:
    """An outbox event as the consumer reads it (type, aggregate, payload)."""

    def __init__(self, type_, aggregate_type, aggregate_id, payload):
        self.type, self.aggregate_type, self.aggregate_id, self.payload = type_, aggregate_type, aggregate_id, payload


def timed(step) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--structures", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()
    url = args.database_url
    if not url.startswith("postgresql"):
        sys.exit("PostgreSQL only (the national scale).")
    recreate_database(url)
    os.environ.update(
        CRM_ENV="development",
        SECRET_KEY=secrets.token_hex(16),
        DATABASE_URL=url,
        REDIS_URL="",
        CRM_INSTANCE_DIR=tempfile.mkdtemp(prefix="bench-usage-cells-"),
    )

    from sqlalchemy import distinct, func, select, text, update

    from crm import create_app
    from crm.accounts.models import User
    from crm.accounts.services import save_user
    from crm.deployment.models import UsageFigure
    from crm.deployment.services import population, save_offer_settings
    from crm.indicators.deployment import offer_figures, offers_followed
    from crm.indicators.readmodel import deployment, usage
    from crm.indicators.readmodel.usage import UsageCell, add_months
    from crm.platform.extensions import db
    from crm.platform.models import OutboxEvent
    from crm.referential.services import all_department_codes, load_reference_data
    from crm.seed.bulk import insert_structures
    from crm.structures.models import Structure

    app = create_app()
    timings: dict[str, float] = {}
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        db.create_all()
        load_reference_data()
        departments = all_department_codes()
        started = time.perf_counter()
        insert_structures(
            [
                {
                    "name": f"Structure {i}",
                    "department_code": departments[i % len(departments)],
                    "category": "EHPAD" if i % 2 == 0 else "CH",
                }
                for i in range(args.structures)
            ],
            origin="bench",
        )
        db.session.execute(update(OutboxEvent).values(processed_at=func.now()))  # the creations: not measured
        offers = offers_followed()[:OFFERS]
        for offer in offers:
            save_offer_settings(offer, {"eligible_sectors": "", "eligible_categories": "EHPAD"}, user_id=None)
        db.session.commit()
        first = date(2026, 1, 1)
        months = [add_months(first, k) for k in range(args.months)]
        for offer in offers:
            db.session.execute(
                text(
                    "INSERT INTO usage_figures (structure_id, offer_id, month, value, source, updated_at) "
                    "SELECT s.id, :offer, m::date, CASE WHEN (s.id + :offer) % 3 = 0 THEN 0 "
                    "ELSE greatest((s.id * 7 + extract(month FROM m)::int * 3 + :offer) % 5 - 2, 0) END, "
                    "'bench', now() FROM structures s JOIN categories c ON c.id = s.category_id "
                    "CROSS JOIN generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 month') m "
                    "WHERE c.code = 'EHPAD'"
                ),
                {"offer": offer.id, "first": first, "last": months[-1]},
            )
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        figures = db.session.scalar(select(func.count()).select_from(UsageFigure))
        setup = time.perf_counter() - started

        deployment.rebuild()  # the eligible counts the view divides by
        timings["rebuild (every offer)"] = timed(usage.rebuild)
        db.session.commit()
        cells = db.session.scalar(select(func.count()).select_from(UsageCell))

        offer = offers[0]
        all_ids = list(db.session.scalars(select(Structure.id).order_by(Structure.id)))
        national = Event(
            "usage.imported",
            "offer_usage",
            offer.id,
            {"offer_id": offer.id, "months": [m.strftime("%Y-%m") for m in months], "structure_ids": all_ids},
        )
        timings["consumer: national import (1 offer, 12 months)"] = timed(
            lambda: usage.recompute(usage.scopes_of_event(national, {}))
        )
        db.session.commit()
        one = db.session.scalar(select(Structure).where(Structure.department_code == "31").limit(1))
        push = Event(
            "usage.imported",
            "offer_usage",
            offer.id,
            {"offer_id": offer.id, "months": [months[-1].strftime("%Y-%m")], "structure_ids": [one.id]},
        )
        timings["consumer: API push (1 structure, 1 month)"] = timed(
            lambda: usage.recompute(usage.scopes_of_event(push, {}))
        )
        db.session.commit()
        moved = Event("structure.updated", "structure", one.id, {"department": "31"})
        timings["consumer: a structure moves (2 departments, every offer)"] = timed(
            lambda: usage.recompute(usage.scopes_of_event(moved, {one.id: {"31", "81"}}))
        )
        db.session.commit()

        def direct(offer, end):
            start = add_months(end, -2)
            return dict(
                db.session.execute(
                    select(Structure.department_code, func.count(distinct(UsageFigure.structure_id)))
                    .join(Structure, Structure.id == UsageFigure.structure_id)
                    .where(
                        UsageFigure.offer_id == offer.id,
                        UsageFigure.month.between(start, end),
                        UsageFigure.value > 0,
                        population(offer).condition(),
                    )
                    .group_by(Structure.department_code)
                ).all()
            )

        timings["before the cells: one period's counts from the figures"] = timed(lambda: direct(offer, months[-1]))
        mismatches = 0
        for each in offers:
            for k in range(args.months + 3):
                end = add_months(first, k)
                stored = usage.active_counts(each.id, departments, end)
                if stored != direct(each, end):
                    mismatches += 1
        db.session.rollback()

        user = db.session.scalar(select(User).where(User.email == EMAIL))
        save_user(
            user,
            email=EMAIL,
            role="manager",
            first_name="Bench",
            last_name="Services",
            department_codes=[],
            password=PASSWORD,
            origin="bench",
        )
        db.session.commit()
        codes = [o.code for o in offers]
        view = [offer_figures(o) for o in offers]  # warm-up, and the figures shown
        db.session.remove()

    client = app.test_client()
    page = client.get("/connexion").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    response = client.post("/connexion", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
    if response.status_code != 302:
        sys.exit("Connexion impossible (page /connexion) : rien à mesurer.")
    latencies = []
    statuses = set()
    for i in range(args.requests + 5):
        code = codes[i % len(codes)]
        month = add_months(first, i % (args.months + 2))
        started = time.perf_counter()
        response = client.get(f"/tableau-de-bord/services?offre={code}&mois={month:%Y-%m}")
        elapsed = time.perf_counter() - started
        statuses.add(response.status_code)
        if i >= 5:
            latencies.append(elapsed * 1000)
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]

    print(f"Database: {url.split('@')[-1]}")
    print(
        f"{args.structures:,} structures, {figures:,} usage figures ({OFFERS} offers × {args.months} months), "
        f"set up in {setup:.1f} s; {cells:,} usage cells."
    )
    print()
    print("| step | seconds |")
    print("|---|---:|")
    for name, seconds in timings.items():
        print(f"| {name} | {seconds:.3f} |")
    print()
    print(f"Cells against a direct count ({OFFERS} offers × {args.months + 3} periods): {mismatches} mismatch(es).")
    print(
        f"Total active in the services view, last period: {[f.total.active for f in view]} "
        f"of {[f.total.eligible for f in view]} eligible."
    )
    print()
    print("| page | requests | p50 ms | p95 ms | max ms | statuses |")
    print("|---|---:|---:|---:|---:|---|")
    print(
        f"| GET /tableau-de-bord/services | {len(latencies)} | {statistics.median(latencies):.0f} | {p95:.0f} "
        f"| {latencies[-1]:.0f} | {sorted(statuses)} |"
    )


if __name__ == "__main__":
    main()
