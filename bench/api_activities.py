"""Throughput of ``POST /api/v1/activities`` under concurrent clients, against a real gunicorn on PostgreSQL.

    python bench/api_activities.py [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_api]
                                   [--reuse] [--seconds 20] [--clients 20] [--workers 2] [--threads 4]
                                   [--app bench.api_floor:app]

Unless ``--reuse`` finds structures of ``--department`` already there (for instance a
database seeded at national scale by ``crm seed --scale national``), the database is
dropped and recreated with the tables, the reference data and ``--structures`` open
structures in the department. An animator of that department gets a fresh API token.
gunicorn then serves ``wsgi:app`` (CRM_ENV=production, no Redis; by default 2 gthread workers
of 4 threads, which keep connections alive: on 2 cores they spent a third less CPU per request
than 4 sync workers, which close the connection after each response) and ``--clients``
threads, each with its own keep-alive ``http.client`` connection, post realistic
activities (one to three structures, some with an offer, one in five with a next step
that creates a task) for ``--seconds`` after a short warm-up. Requests/s, latency
percentiles and errors are printed as a Markdown table. Target: >= 200 requests/s.

The CPU time spent per request by the gunicorn workers, the PostgreSQL backends of the
bench database and the clients is measured too (from /proc), so that a run on a machine
busy with other work still tells what two idle cores would sustain.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import signal
import socket
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

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_api"
BENCH_EMAIL = "bench.api@example.org"
KINDS = ("visite", "appel", "reunion", "demonstration", "formation", "atelier", "webinaire", "email")


def recreate_database(url) -> None:
    import psycopg

    admin_dsn = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{url.database}"')
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")


def has_structures(url, department: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
            row = conn.execute(
                "SELECT count(*) FROM structures WHERE department_code = %s AND is_open", (department,)
            ).fetchone()
            return bool(row and row[0])
    except psycopg.Error:
        return False


def prepare(args, reuse: bool) -> tuple[list[str], list[int], list[int]]:
    """Tables, reference data and structures if needed; the bench animators' tokens, structure and offer ids."""
    from sqlalchemy import func, select

    from crm import create_app
    from crm.accounts.models import User
    from crm.accounts.services import create_api_token, save_user
    from crm.platform.extensions import db
    from crm.referential.models import Offer
    from crm.referential.services import load_reference_data
    from crm.structures.models import Structure
    from crm.structures.services import create_structure

    app = create_app()
    with app.app_context():
        if not reuse:
            db.create_all()
            load_reference_data()
            for number in range(args.structures):
                create_structure(
                    {
                        "name": f"EHPAD Bench {number:04d}",
                        "department_code": args.department,
                        "commune": "Toulouse",
                        "postal_code": "31000",
                    },
                    origin="bench",
                )
        tokens = []
        for number in range(args.users):
            email = BENCH_EMAIL.replace("@", f"{number or ''}@")
            user = db.session.scalar(select(User).where(User.email == email))
            user = save_user(
                user,
                email=email,
                role="animateur",
                first_name="Bench",
                last_name=f"API {number}",
                department_codes=[args.department],
                password="bench-" + secrets.token_hex(8),
                origin="bench",
            )
            tokens.append(create_api_token(user))
        structure_ids = list(
            db.session.scalars(
                select(Structure.id)
                .where(Structure.department_code == args.department, Structure.is_open.is_(True))
                .order_by(Structure.id)
                .limit(2000)
            )
        )
        offer_ids = list(db.session.scalars(select(Offer.id).where(Offer.active.is_(True))))
        activities = db.session.scalar(select(func.count()).select_from(db.metadata.tables["activities"]))
        print(
            f"Base : {len(structure_ids)} structures ouvertes dans le {args.department} utilisées, "
            f"{activities} activités déjà en base."
        )
        if not reuse:  # planner statistics for the fresh tables (a seeded database has its own)
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
        db.session.remove()
        db.engine.dispose()
    return tokens, structure_ids, offer_ids


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(args, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "CRM_ENV": "production",
        "SECRET_KEY": "bench-" + secrets.token_hex(16),
        "DATABASE_URL": args.database_url,
        "REDIS_URL": "",
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
    ]
    if args.threads > 1:
        command += ["-k", "gthread", "--threads", str(args.threads), "--keep-alive", "30"]
    process = subprocess.Popen(command + [args.app], cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
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


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


def activity_body(rng: random.Random, structure_ids: list[int], offer_ids: list[int]) -> bytes:
    body = {
        "kind": rng.choice(KINDS),
        "structure_ids": rng.sample(structure_ids, k=min(len(structure_ids), rng.choice((1, 1, 1, 2, 3)))),
        "occurred_on": (date.today() - timedelta(days=rng.randrange(0, 60))).isoformat(),
        "duration_minutes": rng.choice((15, 30, 45, 60, 90, 120)),
        "subject": "Point d'étape sur les usages numériques",
        "notes": "Échange avec la direction et l'IDEC ; besoins à qualifier.",
        "is_information": rng.random() < 0.3,
    }
    if offer_ids and rng.random() < 0.5:
        body["offer_ids"] = [rng.choice(offer_ids)]
    if rng.random() < 0.2:
        body["next_step"] = "Envoyer la documentation"
        body["next_step_due_on"] = (date.today() + timedelta(days=14)).isoformat()
    return json.dumps(body).encode()


def client_loop(
    port: int,
    token: str,
    structure_ids,
    offer_ids,
    start_at: float,
    stop_at: float,
    seed: int,
    results: list,
    lock: threading.Lock,
) -> None:
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, statuses, errors = [], {}, 0
    while True:
        now = time.perf_counter()
        if now >= stop_at:
            break
        body = activity_body(rng, structure_ids, offer_ids)
        started = time.perf_counter()
        try:
            conn.request("POST", "/api/v1/activities", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            status = 0
        elapsed = time.perf_counter() - started
        if started >= start_at:  # requests begun during the warm-up are not counted
            latencies.append(elapsed)
            statuses[status] = statuses.get(status, 0) + 1
            errors += status != 201
    conn.close()
    with lock:
        results.append((latencies, statuses, errors))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pids(process: subprocess.Popen, database_url: str) -> list[int]:
    """gunicorn's workers and the PostgreSQL backends connected to the bench database."""
    import psycopg
    from sqlalchemy.engine import make_url

    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    workers = [int(pid) for pid in children.read_text().split()] if children.exists() else []
    url = make_url(database_url)
    with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
        backends = [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (url.database,)
            )
        ]
    return workers, backends


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def run(args, tokens, structure_ids, offer_ids) -> dict:
    port = args.port or free_port()
    process = start_gunicorn(args, port)
    try:
        results, lock = [], threading.Lock()
        start_at = time.perf_counter() + args.warmup
        stop_at = start_at + args.seconds
        with ThreadPoolExecutor(max_workers=args.clients + 1) as pool:
            for number in range(args.clients):
                pool.submit(
                    client_loop,
                    port,
                    tokens[number % len(tokens)],
                    structure_ids,
                    offer_ids,
                    start_at,
                    stop_at,
                    number,
                    results,
                    lock,
                )
            time.sleep(max(0.0, start_at - time.perf_counter()))
            workers, backends = server_pids(process, args.database_url)
            workers_before, backends_before = sum(map(cpu_seconds, workers)), sum(map(cpu_seconds, backends))
            client_before = time.process_time()
            time.sleep(max(0.0, stop_at - time.perf_counter()))
            workers_cpu = sum(map(cpu_seconds, workers)) - workers_before
            backends_cpu = sum(map(cpu_seconds, backends)) - backends_before
            client_cpu = time.process_time() - client_before
    finally:
        stop(process)
    latencies = [value for values, _, _ in results for value in values]
    statuses: dict[int, int] = {}
    for _, by_status, _ in results:
        for status, count in by_status.items():
            statuses[status] = statuses.get(status, 0) + count
    return {
        "requests": len(latencies),
        "rps": len(latencies) / args.seconds,
        "p50": statistics.median(latencies) * 1000,
        "p95": percentile(latencies, 0.95) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "errors": sum(e for _, _, e in results),
        "statuses": statuses,
        "workers_cpu_ms": workers_cpu * 1000 / max(1, len(latencies)),
        "backends_cpu_ms": backends_cpu * 1000 / max(1, len(latencies)),
        "client_cpu_ms": client_cpu * 1000 / max(1, len(latencies)),
        "load": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--reuse", action="store_true", help="keep the database if it already has structures")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument(
        "--threads",
        type=int,
        default=4,
        help="threads per worker (> 1: gthread worker with keep-alive; 1: sync worker)",
    )
    parser.add_argument("--structures", type=int, default=300, help="structures created in a new database")
    parser.add_argument("--department", default="31")
    parser.add_argument(
        "--users", type=int, default=1, help="animators (each client uses the token of one of them, in turn)"
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--app",
        default="wsgi:app",
        help="WSGI application served (bench.api_floor:app: the same SQL in a bare Flask route)",
    )
    args = parser.parse_args()

    from sqlalchemy.engine import make_url

    url = make_url(args.database_url)
    os.environ.update(
        {
            "CRM_ENV": "production",
            "SECRET_KEY": "bench-" + secrets.token_hex(16),
            "DATABASE_URL": args.database_url,
            "REDIS_URL": "",
        }
    )
    os.environ.setdefault("CRM_INSTANCE_DIR", tempfile.mkdtemp(prefix="maillage-bench-"))
    reuse = args.reuse and has_structures(url, args.department)
    if not reuse:
        recreate_database(url)
    tokens, structure_ids, offer_ids = prepare(args, reuse)
    result = run(args, tokens, structure_ids, offer_ids)

    server = f"gunicorn -w {args.workers}" + (f" --threads {args.threads} (gthread)" if args.threads > 1 else " (sync)")
    if args.app != "wsgi:app":
        server += f", {args.app}"
    print(
        f"\n## POST /api/v1/activities, {args.clients} clients, {args.users} animator(s), {args.seconds:.0f} s "
        f"({server})\n"
    )
    print("| requests | requests/s | p50 (ms) | p95 (ms) | p99 (ms) | errors | statuses |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    statuses = ", ".join(f"{status}: {count}" for status, count in sorted(result["statuses"].items()))
    print(
        f"| {result['requests']} | **{result['rps']:.0f}** | {result['p50']:.1f} | {result['p95']:.1f} | "
        f"{result['p99']:.1f} | {result['errors']} | {statuses} |"
    )
    workers, backends, client = result["workers_cpu_ms"], result["backends_cpu_ms"], result["client_cpu_ms"]
    server = workers + backends
    cores = os.cpu_count() or 2
    print(
        f"\nCPU par requête : {workers:.1f} ms dans les workers gunicorn, {backends:.1f} ms dans PostgreSQL, "
        f"{client:.1f} ms côté clients ; charge de la machine pendant la mesure : {result['load']:.1f} "
        f"sur {cores} cœurs."
    )
    print(
        f"Capacité sur {cores} cœurs libres, bornée par le CPU : ~{cores * 1000 / (server + client):.0f} "
        f"requêtes/s (clients compris), ~{cores * 1000 / server:.0f} requêtes/s (serveur seul)."
    )
    print(f"\nObjectif >= 200 requêtes/s : {'atteint' if result['rps'] >= 200 else 'NON atteint'}.")


if __name__ == "__main__":
    main()
