"""Public event registration under concurrent visitors, and the check-in search at 1,000 registrants,
against a real gunicorn on PostgreSQL.

    python bench/events.py [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_events]
                           [--seconds 15] [--clients 50] [--capacity 400] [--registrants 1000]
                           [--search-requests 300] [--workers 2] [--threads 4]

The database is dropped and recreated with the tables and the reference data, an organiser, a
published event of ``--capacity`` seats and an event of ``--registrants`` registrations (for the
check-in search). gunicorn serves ``wsgi:app`` (CRM_ENV=production, no Redis: emails are rows).

1. ``--clients`` threads, each a visitor with its own keep-alive connection and session (the
   public page is read once for its CSRF token), post the registration form with a new email each
   time for ``--seconds`` after a warm-up. The per-address rate limit is lifted (every client is
   127.0.0.1). Afterwards the database must hold exactly one registration per accepted POST and no
   more seats taken than the capacity, the rest on the waiting list. Target: >= 100 registrations/s.
2. The organiser, logged in, searches the 1,000 registrants by the start of a last name, as the
   check-in screen does while one types: p50 / p95 of ``GET /evenements/<id>/accueil/recherche``.

Figures are printed as Markdown tables.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api_activities import (  # noqa: E402
    cpu_seconds,
    free_port,
    percentile,
    recreate_database,
    server_pids,
    start_gunicorn,
    stop,
)

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_events"
ORGANISER_EMAIL = "bench.events@example.org"
PASSWORD = "bench-" + secrets.token_urlsafe(12)


def prepare(args) -> tuple[str, int]:
    """Tables, reference data, the organiser, the two events; returns the public slug and the check-in event id."""
    from sqlalchemy import select

    from crm import create_app
    from crm.accounts.services import save_user
    from crm.events import services
    from crm.events.models import EventType, Registration
    from crm.platform.extensions import db
    from crm.platform.models import utcnow
    from crm.platform.text import fold
    from crm.referential.services import load_reference_data

    app = create_app()
    with app.app_context():
        db.create_all()
        load_reference_data()
        organiser = save_user(
            None,
            email=ORGANISER_EMAIL,
            role="organisateur",
            first_name="Bench",
            last_name="Événements",
            department_codes=[],
            password=PASSWORD,
            origin="bench",
        )
        type_id = db.session.scalar(select(EventType.id).where(EventType.code == "top_esante"))
        start = utcnow() + timedelta(days=30)

        def event(title, capacity):
            created = services.create_event(
                {
                    "type_id": type_id,
                    "title": title,
                    "starts_at": start,
                    "ends_at": start + timedelta(hours=7),
                    "place_name": "Hôtel de région",
                    "department_code": "31",
                    "capacity": capacity,
                },
                user=organiser,
            )
            return services.publish_event(created, user=organiser)

        public = event("TOP e-santé Haute-Garonne", args.capacity)
        checkin = event("TOP e-santé Tarn", None)
        rng = random.Random(7)
        names = [
            "Martin",
            "Bernard",
            "Dubois",
            "Thomas",
            "Robert",
            "Richard",
            "Petit",
            "Durand",
            "Leroy",
            "Moreau",
            "Simon",
            "Laurent",
            "Lefebvre",
            "Michel",
            "Garcia",
            "David",
            "Bertrand",
            "Roux",
            "Vincent",
            "Fournier",
        ]
        rows = []
        for n in range(args.registrants):
            last, first = f"{rng.choice(names)}{n:04d}", rng.choice(["Anne", "Élodie", "Marc", "Jean", "Inès"])
            rows.append(
                {
                    "event_id": checkin.id,
                    "first_name": first,
                    "last_name": last,
                    "email": f"r{n}@x.fr",
                    "email_key": f"r{n}@x.fr",
                    "name_key": fold(f"{last} {first}"),
                    "status": "inscrit",
                    "source": "import",
                    "consent_contact": False,
                    "version": 1,
                    "registered_at": utcnow(),
                    "updated_at": utcnow(),
                }
            )
        db.session.execute(Registration.__table__.insert(), rows)
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
        slug, checkin_id = public.slug, checkin.id
        db.session.remove()
        db.engine.dispose()
    return slug, checkin_id


def _cookie(response) -> str | None:
    header = response.getheader("Set-Cookie") or ""
    match = re.search(r"(session=[^;]+)", header)
    return match.group(1) if match else None


def visitor(
    port: int, slug: str, start_at: float, stop_at: float, seed: int, results: list, lock: threading.Lock
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", f"/e/{slug}")
    response = conn.getresponse()
    page = response.read().decode()
    cookie = _cookie(response)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
    latencies, statuses, number = [], {}, 0
    while time.perf_counter() < stop_at:
        number += 1
        body = urlencode(
            {
                "csrf_token": token,
                "first_name": "Camille",
                "last_name": f"Visiteur{seed}x{number}",
                "email": f"v{seed}.{number}@ehpad.example.fr",
                "function": "IDEC",
                "structure_name": "EHPAD du Lauragais",
                "department_code": "31",
                "consent_contact": "y",
            }
        )
        started = time.perf_counter()
        try:
            conn.request("POST", f"/e/{slug}", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            status = 0
        if started >= start_at:
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
    conn.close()
    with lock:
        results.append((latencies, statuses))


def registration_phase(args, process, port: int, slug: str) -> dict:
    results, lock = [], threading.Lock()
    start_at = time.perf_counter() + args.warmup
    stop_at = start_at + args.seconds
    with ThreadPoolExecutor(max_workers=args.clients) as pool:
        for number in range(args.clients):
            pool.submit(visitor, port, slug, start_at, stop_at, number, results, lock)
        time.sleep(max(0.0, start_at - time.perf_counter()))
        workers, backends = server_pids(process, args.database_url)
        server_before = sum(map(cpu_seconds, workers)) + sum(map(cpu_seconds, backends))
        time.sleep(max(0.0, stop_at - time.perf_counter()))
        server_cpu = sum(map(cpu_seconds, workers)) + sum(map(cpu_seconds, backends)) - server_before
    latencies = [value for values, _ in results for value in values]
    statuses: dict[int, int] = {}
    for _, by_status in results:
        for status, count in by_status.items():
            statuses[status] = statuses.get(status, 0) + count
    return {
        "requests": len(latencies),
        "rps": statuses.get(302, 0) / args.seconds,
        "statuses": statuses,
        "server_cpu_ms": server_cpu * 1000 / max(1, len(latencies)),
        "load": os.getloadavg()[0],
        "p50": statistics.median(latencies) * 1000,
        "p95": percentile(latencies, 0.95) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
    }


def database_check(slug: str) -> dict:
    from sqlalchemy import func, select

    from crm import create_app
    from crm.events.models import Event, Registration
    from crm.platform.extensions import db

    app = create_app()
    with app.app_context():
        event = db.session.scalar(select(Event).where(Event.slug == slug))
        rows = dict(
            db.session.execute(
                select(Registration.status, func.count())
                .where(Registration.event_id == event.id)
                .group_by(Registration.status)
            ).all()
        )
        duplicates = db.session.scalar(
            select(func.count()).select_from(
                select(Registration.email_key)
                .where(Registration.event_id == event.id)
                .group_by(Registration.email_key)
                .having(func.count() > 1)
                .subquery()
            )
        )
        capacity = event.capacity
        db.session.remove()
        db.engine.dispose()
    return {"by_status": rows, "capacity": capacity, "duplicates": duplicates}


def search_phase(args, port: int, event_id: int) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/connexion")
    response = conn.getresponse()
    token = re.search(r'name="csrf-token" content="([^"]+)"', response.read().decode()).group(1)
    cookie = _cookie(response)
    conn.request(
        "POST",
        "/connexion",
        body=urlencode({"email": ORGANISER_EMAIL, "password": PASSWORD, "csrf_token": token}),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    response = conn.getresponse()
    response.read()
    cookie = _cookie(response) or cookie
    if response.status != 302:
        raise SystemExit(f"Connexion de l'organisateur refusée ({response.status}).")
    rng = random.Random(11)
    prefixes = [
        "mar",
        "ber",
        "dub",
        "tho",
        "rob",
        "ric",
        "pet",
        "dur",
        "ler",
        "mor",
        "sim",
        "lau",
        "lef",
        "mic",
        "gar",
        "dav",
        "rou",
        "vin",
        "fou",
        "martin00",
        "dubois01",
        "anne",
        "elodie",
    ]
    latencies, found = [], []
    for number in range(args.search_requests + 20):
        q = rng.choice(prefixes)
        started = time.perf_counter()
        conn.request(
            "GET",
            f"/evenements/{event_id}/accueil/recherche?{urlencode({'q': q})}",
            headers={"Cookie": cookie, "Accept": "application/json"},
        )
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"Recherche refusée ({response.status}) : {body[:200]!r}")
        if number >= 20:  # warm-up
            latencies.append(time.perf_counter() - started)
            found.append(body.count(b'"id"'))
    conn.close()
    return {
        "requests": len(latencies),
        "p50": statistics.median(latencies) * 1000,
        "p95": percentile(latencies, 0.95) * 1000,
        "max": max(latencies) * 1000,
        "results": statistics.mean(found),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--capacity", type=int, default=400)
    parser.add_argument("--registrants", type=int, default=1000)
    parser.add_argument("--search-requests", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (gthread)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    from sqlalchemy.engine import make_url

    os.environ.update(
        {
            "CRM_ENV": "production",
            "SECRET_KEY": "bench-" + secrets.token_hex(16),
            "DATABASE_URL": args.database_url,
            "REDIS_URL": "",
            "EVENT_REGISTRATIONS_PER_IP": "100000000",
            "SESSION_COOKIE_SECURE": "0",
        }
    )
    os.environ.setdefault("CRM_INSTANCE_DIR", tempfile.mkdtemp(prefix="maillage-bench-"))
    recreate_database(make_url(args.database_url))
    slug, checkin_id = prepare(args)
    port = args.port or free_port()
    process = start_gunicorn(args, port)
    try:
        registration = registration_phase(args, process, port, slug)
        search = search_phase(args, port, checkin_id)
    finally:
        stop(process)
    check = database_check(slug)

    server = f"gunicorn -w {args.workers} --threads {args.threads} (gthread)"
    print(f"\n## POST /e/<slug> (public registration), {args.clients} clients, {args.seconds:.0f} s ({server})\n")
    print("| requests | registrations/s | p50 (ms) | p95 (ms) | p99 (ms) | statuses |")
    print("|---:|---:|---:|---:|---:|---|")
    statuses = ", ".join(f"{status}: {count}" for status, count in sorted(registration["statuses"].items()))
    print(
        f"| {registration['requests']} | **{registration['rps']:.0f}** | {registration['p50']:.1f} | "
        f"{registration['p95']:.1f} | {registration['p99']:.1f} | {statuses} |"
    )
    by_status = check["by_status"]
    seats = by_status.get("inscrit", 0) + by_status.get("present", 0)
    oversold = seats > check["capacity"]
    print(
        f"\nEn base : {seats} places prises sur {check['capacity']}, {by_status.get('attente', 0)} en liste "
        f"d'attente, {check['duplicates']} doublon(s) d'adresse. "
        f"{'SURRÉSERVATION !' if oversold else 'Aucune place vendue deux fois.'}"
    )
    cores = os.cpu_count() or 2
    cpu = registration["server_cpu_ms"]
    print(
        f"CPU serveur par inscription : {cpu:.1f} ms (workers gunicorn + PostgreSQL) ; charge de la machine "
        f"pendant la mesure : {registration['load']:.1f} sur {cores} cœurs ; capacité sur {cores} cœurs libres, "
        f"bornée par le CPU : ~{cores * 1000 / max(cpu, 0.001):.0f} inscriptions/s."
    )
    print(f"Objectif >= 100 inscriptions/s : {'atteint' if registration['rps'] >= 100 else 'NON atteint'}.")
    print(f"\n## GET /evenements/<id>/accueil/recherche, {args.registrants} inscrits, {search['requests']} requêtes\n")
    print("| p50 (ms) | p95 (ms) | max (ms) | results per search (mean) |")
    print("|---:|---:|---:|---:|")
    print(f"| {search['p50']:.1f} | **{search['p95']:.1f}** | {search['max']:.1f} | {search['results']:.1f} |")
    if oversold or check["duplicates"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
