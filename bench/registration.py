"""Public registration under 50 concurrent visitors for one event, and the check-in search at 1,000
registrants, against a real gunicorn on PostgreSQL.

    python bench/registration.py [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_registration]
                                 [--redis-url redis://127.0.0.1:6379/2] [--clients 50] [--seconds 15]
                                 [--capacity 100] [--workers 6] [--worker-class sync|gthread] [--threads 4]

The database is dropped and recreated with the tables, the reference data, 200 structures, an
organiser and two published events: one of ``--capacity`` seats that the visitors register to,
and one that gets 1,000 registrants for the check-in search. gunicorn serves ``wsgi:app`` with the
README's production workers by default (6 sync workers; ``--worker-class gthread`` for threads)
(CRM_ENV=production, the emails queued to the given Redis, as in production; the per-address
rate limit is lifted since every visitor comes from 127.0.0.1).

Each visitor is a thread with its own connection (kept alive by gthread workers; sync workers close it
after each response and the client reconnects) and cookie: it loads the public page
once for its session's CSRF token, then posts the form again and again with new people (a known
structure, or one typed by hand), as fast as it can for ``--seconds`` after a warm-up. Then the
database is checked: as many registrations as accepted POSTs, no email twice, no more seats taken
than the capacity, the rest on the waiting list. Then ``--search-clients`` organisers, logged in,
type 2 to 5 letters of registrants' names on the check-in screen. Markdown tables are printed.
Targets: >= 100 registrations/s, no seat oversold.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import secrets
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote_plus, urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api_activities import (  # noqa: E402  (the same gunicorn, database and measurement helpers)
    cpu_seconds,
    free_port,
    percentile,
    recreate_database,
    server_pids,
    stop,
)

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_registration"
ORGANISER_EMAIL = "bench.organisateur@example.org"
PASSWORD = "bench-" + secrets.token_hex(8)
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def prepare(args) -> dict:
    """Tables, reference data, structures, the organiser and the two events; returns their ids."""
    from sqlalchemy import select

    from crm import create_app
    from crm.accounts.services import save_user
    from crm.events import services
    from crm.events.models import EventType
    from crm.events.registration import registrations
    from crm.platform.extensions import db
    from crm.platform.models import utcnow
    from crm.referential.services import load_reference_data
    from crm.seed.people import FIRST_NAMES, LAST_NAMES
    from crm.structures.models import Structure
    from crm.structures.services import create_structure

    app = create_app()
    with app.app_context():
        db.create_all()
        load_reference_data()
        for number in range(200):
            create_structure(
                {
                    "name": f"EHPAD Bench {number:03d}",
                    "department_code": "31",
                    "commune": "Toulouse",
                    "postal_code": "31000",
                },
                origin="bench",
            )
        organiser = save_user(
            None,
            email=ORGANISER_EMAIL,
            role="organisateur",
            first_name="Bench",
            last_name="Organisateur",
            password=PASSWORD,
            origin="bench",
        )
        type_id = db.session.scalar(select(EventType.id).where(EventType.code == "top_esante"))
        start = utcnow().replace(microsecond=0) + timedelta(days=20)

        def event(title: str, capacity: int | None):
            created = services.create_event(
                {
                    "type_id": type_id,
                    "title": title,
                    "starts_at": start,
                    "ends_at": start + timedelta(hours=7),
                    "place_name": "Hôtel de Région",
                    "address": "Toulouse",
                    "department_code": "31",
                    "capacity": capacity,
                },
                user=organiser,
            )
            return services.publish_event(created, user=organiser)

        target = event("TOP e-santé Haute-Garonne (bench)", args.capacity)
        checkin = event("TOP e-santé Tarn (accueil, bench)", None)
        rng = random.Random(7)
        names = []
        for number in range(args.registrants):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            names.append(last)
            registrations.register(
                checkin,
                {
                    "first_name": first,
                    "last_name": last,
                    "email": f"accueil{number}@ehpad.example.fr",
                    "structure_name": "EHPAD Les Lilas",
                    "department_code": "31",
                    "consent_contact": "y",
                },
                source="back_office",
            )
        structure_ids = list(db.session.scalars(select(Structure.id).order_by(Structure.id)))
        ids = {
            "slug": target.slug,
            "event_id": target.id,
            "checkin_id": checkin.id,
            "names": names,
            "structure_ids": structure_ids,
        }
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
        db.session.remove()
        db.engine.dispose()
    return ids


def start_gunicorn(args, port: int):
    import subprocess

    env = {
        **os.environ,
        "CRM_ENV": "production",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "EVENT_REGISTRATIONS_PER_IP": "1000000000",
        "PYTHONPATH": str(ROOT),
    }
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "-w",
        str(args.workers),
        "-b",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "--backlog",
        "256",
        "-k",
        args.worker_class,
    ]
    if args.worker_class == "gthread":
        command += ["--threads", str(args.threads), "--keep-alive", "30"]
    command.append("wsgi:app")
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/sante")
            if conn.getresponse().status == 200:
                conn.close()
                return process
        except OSError:
            time.sleep(0.3)
    stop(process)
    raise SystemExit("gunicorn n'a pas démarré.")


class Browser:
    """One visitor: a keep-alive connection and its session cookie."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        data = None
        if body is not None:
            data = urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
            text = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            return 0, ""
        for cookie in response.headers.get_all("Set-Cookie") or ():
            name, _, value = cookie.split(";", 1)[0].partition("=")
            if value:
                self.cookies[name.strip()] = value
            else:
                self.cookies.pop(name.strip(), None)
        return response.status, text

    def csrf(self, path: str) -> str:
        status, html = self.request("GET", path)
        match = CSRF_RE.search(html)
        if status != 200 or not match:
            raise RuntimeError(f"GET {path}: {status}, no CSRF token")
        return match.group(1)


def visitor(
    port: int, ids: dict, number: int, start_at: float, stop_at: float, results: list, lock: threading.Lock
) -> None:
    rng = random.Random(number)
    browser = Browser(port)
    page = f"/e/{ids['slug']}"
    token = browser.csrf(page)
    latencies, statuses, sent, accepted = [], {}, 0, 0
    while time.perf_counter() < stop_at:
        sent += 1
        person = {
            "csrf_token": token,
            "first_name": "Camille",
            "last_name": f"Visiteur {number}-{sent}",
            "email": f"visiteur{number}.{sent}@ehpad.example.fr",
            "function": "Directrice",
            "consent_contact": "y",
            "website": "",
        }
        if rng.random() < 0.7:
            person["structure_id"] = str(rng.choice(ids["structure_ids"]))
        else:
            person.update(structure_name="Résidence Les Chênes", department_code="31")
        started = time.perf_counter()
        status, _ = browser.request("POST", page, person)
        elapsed = time.perf_counter() - started
        accepted += status == 302
        if started >= start_at:
            latencies.append(elapsed)
            statuses[status] = statuses.get(status, 0) + 1
    with lock:
        results.append((latencies, statuses, accepted))


def searcher(
    port: int, ids: dict, number: int, start_at: float, stop_at: float, results: list, lock: threading.Lock
) -> None:
    rng = random.Random(1000 + number)
    browser = Browser(port)
    token = browser.csrf("/connexion")
    status, _ = browser.request(
        "POST", "/connexion", {"csrf_token": token, "email": ORGANISER_EMAIL, "password": PASSWORD}
    )
    if status != 302:
        raise RuntimeError(f"login: {status}")
    latencies, statuses, found = [], {}, 0
    path = f"/evenements/{ids['checkin_id']}/accueil/recherche?q="
    while time.perf_counter() < stop_at:
        name = rng.choice(ids["names"])
        query = name[: rng.randint(2, 5)]
        started = time.perf_counter()
        status, body = browser.request("GET", path + quote_plus(query))
        elapsed = time.perf_counter() - started
        if started >= start_at:
            latencies.append(elapsed)
            statuses[status] = statuses.get(status, 0) + 1
            found += '"results": [{' in body or '"results":[{' in body
    with lock:
        results.append((latencies, statuses, found))


def drive(
    worker, process, args, ids: dict, clients: int, warmup: float, seconds: float
) -> tuple[list, dict, int, float]:
    """Run ``clients`` threads of ``worker``; also returns the server's CPU seconds (gunicorn + PostgreSQL)
    during the measured window, which tells what idle cores would sustain on a busy machine."""
    results, lock = [], threading.Lock()
    start_at = time.perf_counter() + warmup
    stop_at = start_at + seconds
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(worker, args.port, ids, n, start_at, stop_at, results, lock) for n in range(clients)]
        time.sleep(max(0.0, start_at - time.perf_counter()))
        workers, backends = server_pids(process, args.database_url)
        before = sum(map(cpu_seconds, workers + backends))
        time.sleep(max(0.0, stop_at - time.perf_counter()))
        server_cpu = sum(map(cpu_seconds, workers + backends)) - before
        for future in futures:
            future.result()
    latencies = [value for values, _, _ in results for value in values]
    statuses: dict[int, int] = {}
    for _, by_status, _ in results:
        for status, count in by_status.items():
            statuses[status] = statuses.get(status, 0) + count
    return latencies, statuses, sum(extra for _, _, extra in results), server_cpu


def check_seats(args, ids: dict) -> dict:
    from sqlalchemy import func, select

    from crm import create_app
    from crm.events.models import Registration
    from crm.events.registration.registrations import EMAIL_EVENTS
    from crm.platform.extensions import db
    from crm.platform.models import OutboxEvent

    app = create_app()
    with app.app_context():
        rows = dict(
            db.session.execute(
                select(Registration.status, func.count())
                .where(Registration.event_id == ids["event_id"])
                .group_by(Registration.status)
            ).all()
        )
        emails = db.session.scalar(
            select(func.count(func.distinct(Registration.email_key))).where(Registration.event_id == ids["event_id"])
        )
        # No worker runs here: the emails wait as outbox events for the registration_emails rule.
        waiting_emails = db.session.scalar(
            select(func.count()).where(
                OutboxEvent.processed_at.is_(None),
                OutboxEvent.type.in_(EMAIL_EVENTS),
                OutboxEvent.aggregate_type == "registration",
                OutboxEvent.aggregate_id.in_(select(Registration.id).where(Registration.event_id == ids["event_id"])),
            )
        )
        db.session.remove()
        db.engine.dispose()
    return {
        "inscrit": rows.get("inscrit", 0) + rows.get("present", 0),
        "attente": rows.get("attente", 0),
        "waiting_emails": waiting_emails,
        "total": sum(rows.values()),
        "emails": emails,
    }


def _empty_mail_queue(redis_url: str) -> int:
    """Remove the queued email jobs (and their hashes); returns how many there were."""
    if not redis_url:
        return 0
    from redis import Redis
    from rq import Queue

    queue = Queue("mail", connection=Redis.from_url(redis_url))
    count = queue.count
    queue.empty()
    return count


def _ms(values: list[float], share: float) -> str:
    return f"{percentile(values, share) * 1000:.1f}" if values else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2"),
        help="where the confirmation emails are queued ('' for none: they stay pending)",
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument(
        "--capacity",
        type=int,
        default=100,
        help="seats of the event: fewer than the registrations sent, so the waiting list is used",
    )
    parser.add_argument("--registrants", type=int, default=1000, help="registrants of the check-in event")
    parser.add_argument("--search-clients", type=int, default=10)
    parser.add_argument(
        "--worker-class",
        choices=("gthread", "sync"),
        default="sync",
        help="gunicorn workers: gthread (keep-alive, --threads each) or sync (a connection per request)",
    )
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    from sqlalchemy.engine import make_url

    os.environ.update(
        {
            "CRM_ENV": "production",
            "SECRET_KEY": "bench-" + secrets.token_hex(16),
            "DATABASE_URL": args.database_url,
            "REDIS_URL": "",
        }
    )
    os.environ.setdefault("CRM_INSTANCE_DIR", tempfile.mkdtemp(prefix="maillage-bench-"))
    recreate_database(make_url(args.database_url))
    os.environ["REDIS_URL"] = args.redis_url
    _empty_mail_queue(args.redis_url)
    ids = prepare(args)
    _empty_mail_queue(args.redis_url)  # the check-in registrants' confirmations

    args.port = free_port()
    process = start_gunicorn(args, args.port)
    try:
        latencies, statuses, accepted_all, cpu = drive(
            visitor, process, args, ids, args.clients, args.warmup, args.seconds
        )
        search, search_statuses, found, search_cpu = drive(
            searcher, process, args, ids, args.search_clients, 2, args.seconds / 2
        )
    finally:
        stop(process)
    queued = _empty_mail_queue(args.redis_url)  # the bench's emails are not to be sent
    seats = check_seats(args, ids)
    rate = len(latencies) / args.seconds
    server = f"gunicorn -w {args.workers} " + (
        f"--threads {args.threads} (gthread)" if args.worker_class == "gthread" else "(sync)"
    )
    print(
        f"\n## Public registration POST, {args.clients} visitors, one event of {args.capacity} seats, "
        f"{args.seconds:.0f} s ({server})\n"
    )
    print("| POSTs | registrations/s | p50 (ms) | p95 (ms) | p99 (ms) | statuses |")
    print("|---:|---:|---:|---:|---:|---|")
    print(
        f"| {len(latencies)} | **{rate:.0f}** | {_ms(latencies, 0.5)} | **{_ms(latencies, 0.95)}** | "
        f"{_ms(latencies, 0.99)} | {', '.join(f'{s}: {n}' for s, n in sorted(statuses.items()))} |"
    )
    oversold = seats["inscrit"] > args.capacity
    print(
        f"\nAfter the run: {seats['total']} registrations ({seats['emails']} distinct emails) for "
        f"{accepted_all} POSTs answered 302 in all (warm-up included); "
        f"{seats['inscrit']} seats taken of {args.capacity}, {seats['attente']} on the waiting list: "
        f"{'OVERSOLD' if oversold else 'no seat oversold'}."
        + f" Emails waiting in the outbox for the registration_emails rule (no worker runs here): "
        f"{seats['waiting_emails']}; email jobs left in Redis: {queued}."
    )
    print(
        f"\n## Check-in search, {args.registrants} registrants, {args.search_clients} organisers typing, "
        f"{args.seconds / 2:.0f} s\n"
    )
    print("| searches | searches/s | p50 (ms) | p95 (ms) | p99 (ms) | with results | statuses |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    print(
        f"| {len(search)} | {len(search) / (args.seconds / 2):.0f} | {_ms(search, 0.5)} | **{_ms(search, 0.95)}** | "
        f"{_ms(search, 0.99)} | {found} | {', '.join(f'{s}: {n}' for s, n in sorted(search_statuses.items()))} |"
    )
    cores = os.cpu_count() or 2
    for label, count, seconds in (("registration", len(latencies), cpu), ("search", len(search), search_cpu)):
        per = seconds * 1000 / max(1, count)
        print(
            f"\nServer CPU per {label}: {per:.1f} ms (gunicorn workers + PostgreSQL backends), "
            f"i.e. ~{cores * 1000 / max(per, 0.001):.0f}/s on {cores} idle cores if nothing serialised them."
        )
    ok = rate >= 100 and not oversold and seats["total"] == seats["emails"] == accepted_all and statuses.keys() <= {302}
    print(
        f"\nObjectif >= 100 inscriptions/s sans place survendue : {'atteint' if ok else 'NON atteint'}; "
        f"load {os.getloadavg()[0]:.1f} on {cores} cores."
    )
    if seats["total"] != accepted_all:
        print(f"ATTENTION : {accepted_all} POST acceptés mais {seats['total']} inscriptions en base.")


if __name__ == "__main__":
    main()
