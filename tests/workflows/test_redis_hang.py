"""A Redis that hangs (SIGSTOP: it accepts connections and never answers) for longer than the worker's
socket timeout: the worker neither quits nor needs a restart, users' commits do not wait on it, and once
Redis answers again the worker processes what was written meanwhile, once.

Runs against a redis-server of its own (tests/workflows/workers.py: RedisServer), the only one stopped.
"""
from __future__ import annotations

import time

from crm.extensions import db
from tests.workflows.workers import (  # noqa: F401  (fixtures)
    all_processed, app_on_own_redis, assert_exactly_once, outbox_counts, own_redis, wait_until, with_test_rules,
    workers,
)
from tests.workflows.workload import Workload

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
    assert max(commits) < 2.0, sorted(commits)[-3:]  # was 5 s (and more: redis-py retries) per process
    assert assert_exactly_once() >= written["total"]
