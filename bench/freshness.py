"""Freshness of the indicators under a sustained load: from the POST of an activity to the indicator
reflecting it, with one outbox worker.

    python bench/freshness.py [--scale region|national] [--database-url URL] [--reuse]
                              [--rate 50] [--seconds 30] [--workers 2] [--threads 4] [--outbox-workers 1]

The database is the one of bench/outbox_throughput.py (region: ``bench_outbox``; national:
``bench_national``), recreated and seeded unless ``--reuse`` finds it seeded. A private redis-server,
one worker (``rq worker --with-scheduler -w workflows.worker.Worker``) and gunicorn serving
``wsgi:app`` (as bench/api_activities.py does, but with Redis: each commit enqueues a drain) are
started. Clients then POST ``/api/v1/activities`` at ``--rate`` per second, open loop (a request
starts on time whether or not earlier ones are answered), each an information activity on one to
three open structures of an animator's departments. For each activity, the clock runs from the start
of its POST until its participation rows (``ind_participation_sources``, written with the cells in the
worker's transaction) are seen by a poller querying every 20 ms. p50/p95/max are printed as a table,
beside the HTTP latency and the server-side delay (the outbox row's ``created_at`` to
``processed_at``). Targets: p95 < 2 s at 50 activities/s (issue 5); p95 < 1 s at 200 activities/s for
60 s, with the POSTs' p95 under 150 ms meanwhile (issue 12). ``--threads 1`` runs sync gunicorn workers
(the README's production setting), more threads ``gthread`` ones.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api_activities import free_port, stop  # noqa: E402
from bench.outbox_throughput import (  # noqa: E402
    DEFAULT_URLS,
    RedisServer,
    number,
    prepare_database,
    start_worker,
    stop_worker,
    wait_for_worker,
)
from bench.pages import percentile  # noqa: E402

# A new animator each run: one who had logged the earlier runs' thousands of activities in the last 30 days
# made each POST's duplicate check (the author's activities of the same kind and day) slower and slower.
EMAIL = f"bench.fraicheur.{secrets.token_hex(4)}@example.org"
POLL_EVERY = 0.02


def prepare_animator(app, department_limit: int = 3) -> tuple[str, list[int]]:
    """An animator of the region's first departments, with an API token; open structures there."""
    from sqlalchemy import select

    from crm.accounts.models import User
    from crm.accounts.services import create_api_token, save_user
    from crm.platform.extensions import db
    from crm.referential.services import region_department_codes
    from crm.structures.models import Structure

    with app.app_context():
        departments = [
            code
            for code in region_department_codes()
            if db.session.scalar(
                select(Structure.id).where(Structure.department_code == code, Structure.is_open.is_(True)).limit(1)
            )
        ]
        departments = departments[:department_limit]
        user = db.session.scalar(select(User).where(User.email == EMAIL))
        user = save_user(
            user,
            email=EMAIL,
            role="animateur",
            first_name="Bench",
            last_name="Fraîcheur",
            department_codes=departments,
            password="bench-" + secrets.token_hex(8),
            origin="bench",
        )
        token = create_api_token(user)
        structure_ids = list(
            db.session.scalars(
                select(Structure.id)
                .where(Structure.department_code.in_(departments), Structure.is_open.is_(True))
                .order_by(Structure.id)
                .limit(3000)
            )
        )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return token, structure_ids


def start_gunicorn(database_url: str, redis_url: str, workers: int, threads: int, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "CRM_ENV": "production",
        "SECRET_KEY": "bench-" + secrets.token_hex(16),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PYTHONPATH": str(ROOT),
    }
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        *(("-k", "gthread", "--threads", str(threads)) if threads > 1 else ("-k", "sync")),
        "--keep-alive",
        "30",
        "wsgi:app",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/openapi.json")
            if conn.getresponse().status == 200:
                conn.close()
                return process
        except OSError:
            time.sleep(0.3)
    stop(process)
    raise SystemExit("gunicorn n'a pas démarré.")


class Poller:
    """Every POLL_EVERY seconds, which awaited activities have their participation rows: first seen time."""

    def __init__(self, database_url: str):
        import psycopg
        from sqlalchemy.engine import make_url

        dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.awaited: set[int] = set()
        self.seen: dict[int, float] = {}
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def expect(self, activity_id: int) -> None:
        with self.lock:
            if activity_id not in self.seen:
                self.awaited.add(activity_id)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self.lock:
                ids = list(self.awaited)
            if ids:
                rows = self.conn.execute(
                    "SELECT DISTINCT source_id FROM ind_participation_sources "
                    "WHERE source_type = 'activity' AND source_id = ANY(%s)",
                    (ids,),
                ).fetchall()
                now = time.perf_counter()
                with self.lock:
                    for (activity_id,) in rows:
                        self.seen.setdefault(activity_id, now)
                        self.awaited.discard(activity_id)
            time.sleep(POLL_EVERY)

    def close(self) -> None:
        self._stop.set()
        self.thread.join()
        self.conn.close()


def post_activity(port: int, token: str, body: bytes, local: threading.local) -> tuple[int, int | None]:
    conn = getattr(local, "conn", None)
    if conn is None:
        conn = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            "POST",
            "/api/v1/activities",
            body=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException):
        conn.close()
        local.conn = None
        return 0, None
    activity_id = json.loads(data).get("id") if response.status == 201 else None
    return response.status, activity_id


def run_load(args, port: int, token: str, structure_ids: list[int], poller: Poller) -> list[dict]:
    rng = random.Random(7)
    local = threading.local()
    records: list[dict] = []
    lock = threading.Lock()

    def one(body: bytes) -> None:
        started = time.perf_counter()
        status, activity_id = post_activity(port, token, body, local)
        answered = time.perf_counter()
        if activity_id is not None:
            poller.expect(activity_id)
        with lock:
            records.append({"started": started, "answered": answered, "status": status, "id": activity_id})

    total = int(args.rate * args.seconds)
    start = time.perf_counter() + 0.5
    with ThreadPoolExecutor(max_workers=args.clients) as pool:
        for index in range(total):
            body = json.dumps(
                {
                    "kind": rng.choice(("visite", "appel", "reunion", "webinaire")),
                    "structure_ids": rng.sample(structure_ids, k=rng.choice((1, 1, 2, 3))),
                    "occurred_on": (date.today() - timedelta(days=rng.randrange(0, 30))).isoformat(),
                    "is_information": True,
                    "subject": "Présentation des services socles",
                }
            ).encode()
            delay = start + index / args.rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, body)
    return records


def server_delays(database_url: str, ids: list[int]) -> list[float]:
    """Seconds from each activity's outbox row written to processed, as the database saw them."""
    import psycopg
    from sqlalchemy.engine import make_url

    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT EXTRACT(EPOCH FROM processed_at - created_at) FROM outbox_events "
            "WHERE type = 'activity.logged' AND aggregate_id = ANY(%s) AND processed_at IS NOT NULL",
            (ids,),
        ).fetchall()
    return [float(row[0]) for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=("region", "national"), default="region")
    parser.add_argument("--database-url")
    parser.add_argument("--reuse", action="store_true", help="keep the database if it is seeded already")
    parser.add_argument("--rate", type=float, default=50, help="activities posted per second")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=16, help="client threads (keep-alive connections)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (1: sync workers)")
    parser.add_argument("--outbox-workers", type=int, default=1, help="rq workers draining the outbox")
    args = parser.parse_args()

    database_url = args.database_url or DEFAULT_URLS[args.scale]
    app, url = prepare_database(args.scale, database_url, args.reuse)
    token, structure_ids = prepare_animator(app)
    redis = RedisServer()
    log_dir = Path(tempfile.mkdtemp(prefix="maillage-bench-worker-"))
    outbox_workers = [
        start_worker(database_url, redis.url, log_dir / f"worker{i}.log") for i in range(args.outbox_workers)
    ]
    port = free_port()
    gunicorn = None
    poller = None
    try:
        wait_for_worker(redis.url, len(outbox_workers))
        gunicorn = start_gunicorn(database_url, redis.url, args.workers, args.threads, port)
        poller = Poller(database_url)
        load_before = os.getloadavg()[0]
        records = run_load(args, port, token, structure_ids, poller)
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            with poller.lock:
                if not poller.awaited:
                    break
            time.sleep(0.1)
        load_after = os.getloadavg()[0]
    finally:
        if poller is not None:
            poller.close()
        if gunicorn is not None:
            stop(gunicorn)
        for worker in outbox_workers:
            stop_worker(worker)
        redis.stop()

    created = [r for r in records if r["id"] is not None]
    fresh = [poller.seen[r["id"]] - r["started"] for r in created if r["id"] in poller.seen]
    http_ms = [(r["answered"] - r["started"]) * 1000 for r in records]
    errors = len(records) - len(created)
    lost = len(created) - len(fresh)
    span = max(r["started"] for r in records) - min(r["started"] for r in records)
    server = server_delays(database_url, [r["id"] for r in created])

    print(
        f"\n## Fraîcheur des indicateurs – échelle {args.scale} ({url.database}), {args.rate:.0f} activités/s "
        f"pendant {args.seconds:.0f} s, {args.outbox_workers} worker(s)\n"
    )
    target = 1 if args.rate >= 200 else 2
    print("| mesure | n | p50 | p95 | max | objectif |\n|---|---:|---:|---:|---:|---|")
    print(
        f"| POST /api/v1/activities → participation visible (lignes de l'indicateur) | {len(fresh)} | "
        f"{statistics.median(fresh):.2f} s | **{percentile(fresh, 0.95):.2f} s** | {max(fresh):.2f} s | "
        f"p95 < {target} s : {'atteint' if percentile(fresh, 0.95) < target else 'NON atteint'} |"
    )
    print(
        f"| dont réponse HTTP (201) | {len(http_ms)} | {statistics.median(http_ms):.0f} ms | "
        f"{percentile(http_ms, 0.95):.0f} ms | {max(http_ms):.0f} ms | p95 < 150 ms : "
        f"{'atteint' if percentile(http_ms, 0.95) < 150 else 'NON atteint'} |"
    )
    print(
        f"| côté base : événement écrit → traité (`created_at` → `processed_at`) | {len(server)} | "
        f"{statistics.median(server):.2f} s | {percentile(server, 0.95):.2f} s | {max(server):.2f} s | |"
    )
    print(
        f"\nDébit envoyé : {number(len(records) / span if span else 0)} requêtes/s sur {len(records)} ; "
        f"erreurs HTTP : {errors} ; activités jamais vues dans l'indicateur : {lost}. Sondage toutes les "
        f"{POLL_EVERY * 1000:.0f} ms. Charge de la machine {load_before:.1f} → {load_after:.1f} sur "
        f"{os.cpu_count()} cœurs (gunicorn -w {args.workers} "
        f"{'--threads ' + str(args.threads) if args.threads > 1 else '-k sync'})."
    )
    print(f"Journaux des workers : {log_dir}")


if __name__ == "__main__":
    main()
