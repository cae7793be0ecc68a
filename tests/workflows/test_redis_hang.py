"""A Redis that hangs (SIGSTOP: it accepts connections and never answers) for longer than the worker's
socket timeout: the worker neither quits nor needs a restart, users' commits do not wait on it, and once
Redis answers again the worker processes what was written meanwhile, once. And a request pays a hung
Redis a quarter of a second at most, once for every process of the host (the shared circuit breaker).

Runs against a redis-server of its own (tests/workflows/workers.py: RedisServer), the only one stopped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest
from redis import Redis

from crm.accounts.services import create_api_token
from crm.platform.extensions import db
from crm.platform.queue import REDIS_RETRY_AFTER, QueueUnavailable, mark_unavailable, redis_connection
from tests.conftest import ROOT, login
from tests.workflows.workers import (  # noqa: F401  (fixtures)
    all_processed,
    app_on_own_redis,
    assert_exactly_once,
    outbox_counts,
    own_redis,
    wait_until,
    with_test_rules,
    workers,
)
from tests.workflows.workload import Workload
from workflows.dispatch import DRAIN_FLAG, enqueue_drain

# Longer than the worker's socket timeout (its dequeue timeout + 10 s = 20 s): its blocking dequeue times out.
HANG_SECONDS = 25


def test_worker_rides_out_a_hung_redis(app, make_user, make_structure, workers, app_on_own_redis, with_test_rules):
    redis_server = app_on_own_redis
    workload = Workload(make_user, make_structure, structures=8)
    worker = workers.start("hang", redis_url=redis_server.url)
    total = workload.write(30)
    wait_until(all_processed(total), 60, "events not processed before the hang")
    time.sleep(8)  # idle: waiting for a job (blocking pop), the worker's usual state when Redis goes

    redis_server.pause()
    commits = []
    try:
        hang_started = time.monotonic()
        while time.monotonic() - hang_started < HANG_SECONDS:
            started = time.perf_counter()
            workload.activity()  # commits, then tries to enqueue a drain job
            commits.append(time.perf_counter() - started)
            time.sleep(0.5)
        assert worker.alive(), "the worker quit while Redis hung"
    finally:
        redis_server.resume()
    db.session.commit()
    written = outbox_counts()
    assert written["pending"] >= len(commits) > 10  # nothing could be processed during the hang

    # Generous bounds (a loaded machine): the figures are in BENCHMARKS, not asserted here.
    wait_until(all_processed(written["total"]), 90, "events written while Redis hung not processed", interval=0.5)
    assert worker.alive(), "the worker quit after the hang"
    assert "quitting" not in worker.log()
    assert "outbox sweep (Redis back)" in worker.log()  # the catch-up, without waiting for the chain
    assert max(commits) < 1.5, sorted(commits)[-3:]  # was 5 s (and more: redis-py retries) per process
    assert assert_exactly_once() >= written["total"]


# Another process of the host (another web worker): the app's after-commit enqueue, timed, on each line read.
OTHER_PROCESS = """
import json, sys, time
from crm import create_app
from workflows.dispatch import enqueue_drain
with create_app().app_context():
    print("ready", flush=True)
    for _line in sys.stdin:
        started = time.perf_counter()
        enqueued = enqueue_drain()
        print(json.dumps({"enqueued": enqueued, "seconds": time.perf_counter() - started}), flush=True)
"""


class OtherProcess:
    def __init__(self, app, test_env, redis_url, log_path):
        # The same instance directory as this process's app: the breaker is kept there.
        env = {
            **os.environ,
            **test_env,
            "REDIS_URL": redis_url,
            "CRM_INSTANCE_DIR": app.instance_path,
            "PYTHONPATH": str(ROOT),
        }
        self.log_path = log_path
        with open(log_path, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", OTHER_PROCESS],
                cwd=ROOT,
                env=env,
                text=True,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        assert self.process.stdout.readline().strip() == "ready", log_path.read_text()[-2000:]

    def enqueue(self) -> dict:
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, self.log_path.read_text()[-2000:]
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture
def other_process(app, test_env, tmp_path):
    started = []

    def start(redis_url):
        started.append(OtherProcess(app, test_env, redis_url, tmp_path / "other.log"))
        return started[-1]

    yield start
    for process in started:
        process.close()


def timed(call):
    started = time.perf_counter()
    try:
        result = call()
    except QueueUnavailable as error:
        result = error
    return result, time.perf_counter() - started


def test_a_hung_redis_costs_one_request_a_quarter_second_for_the_whole_host(
    app, client, make_user, make_structure, app_on_own_redis, other_process
):
    redis_server = app_on_own_redis
    other = other_process(redis_server.url)
    animator = make_user("animateur", ["31"])
    structure = make_structure()
    token = create_api_token(animator)
    db.session.commit()
    login(client, animator)

    redis_server.pause()
    try:
        started = time.perf_counter()
        response = client.post(
            "/api/v1/activities",
            json={"kind": "appel", "structure_ids": [structure.id]},
            headers={"Authorization": f"Bearer {token}"},
        )
        failed_at = time.monotonic()
        assert response.status_code == 201
        assert time.perf_counter() - started < 1.5  # a 0.25 s timeout, no retry (was 5 s and more)
        # Another process of the host does not even try: this one's failure opened the breaker for both.
        enqueued = other.enqueue()
        assert enqueued["enqueued"] is False and enqueued["seconds"] < 0.1, enqueued
        error, seconds = timed(redis_connection)
        assert isinstance(error, QueueUnavailable) and seconds < 0.1

        # Once the breaker's time is over, one call probes Redis (a PING that times out) and opens it again.
        time.sleep(max(0.0, failed_at + REDIS_RETRY_AFTER + 0.2 - time.monotonic()))
        enqueued, seconds = timed(enqueue_drain)
        assert enqueued is False and 0.2 <= seconds < 1.5, seconds
        error, seconds = timed(redis_connection)
        assert isinstance(error, QueueUnavailable) and seconds < 0.1
        probed_at = time.monotonic()
    finally:
        redis_server.resume()

    # Redis answers again: after the breaker's time, the next caller (another process) probes it, closes
    # the breaker for everyone, and enqueues.
    time.sleep(max(0.0, probed_at + REDIS_RETRY_AFTER + 0.2 - time.monotonic()))
    # The commands sent to the hung server ran once it went on: the drain flag of the timed-out enqueue is set
    # (without its job: the sweep clears it). Clear it, to see the other process enqueue.
    Redis.from_url(redis_server.url).delete(DRAIN_FLAG)
    enqueued = other.enqueue()
    assert enqueued["enqueued"] is True, enqueued
    client_, seconds = timed(redis_connection)
    assert not isinstance(client_, QueueUnavailable) and seconds < 0.1
    assert client_.exists(DRAIN_FLAG)


def test_worker_jobs_use_their_own_connection_while_the_hosts_breaker_is_open(
    app, make_user, make_structure, workers, app_on_own_redis, with_test_rules
):
    """After a hang the web processes' breaker stays open a few seconds: the worker, which just got a job from
    Redis, must not skip Redis because of it (the sweep job failed on it, the drain job left its flag)."""
    stop = threading.Event()

    def hold_open():
        with app.app_context():
            while not stop.is_set():
                mark_unavailable()
                stop.wait(0.5)

    with app.app_context():
        mark_unavailable()  # before anything is written: no commit enqueues a job
    holder = threading.Thread(target=hold_open)
    holder.start()
    try:
        workload = Workload(make_user, make_structure, structures=4)
        total = workload.write(20)
        assert outbox_counts()["pending"] == total
        # The worker's start sweep is the only job: it must find the events and have them drained.
        workers.start("breaker", redis_url=app_on_own_redis.url, env={"CRM_INSTANCE_DIR": app.instance_path})
        wait_until(all_processed(total), 60, "events not processed while the app's breaker was open", interval=0.5)
    finally:
        stop.set()
        holder.join()
    assert_exactly_once()
