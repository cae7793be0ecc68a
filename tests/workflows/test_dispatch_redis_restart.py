"""Redis restarted, empty, while users work: their requests neither fail nor wait on it (one failed
attempt, then the circuit breaker), the events wait in the database, and once Redis is back the sweep
chain comes back by itself (worker heartbeat) and every event is processed once.

Runs against a redis-server of its own (tests/workflows/workers.py: RedisServer), so that stopping
it disturbs no one else.
"""

from __future__ import annotations

import time

import pytest
from redis import Redis

import workflows.dispatch
from crm.accounts.services import create_api_token
from crm.mail import dispatch as mail_dispatch
from crm.platform.extensions import db
from tests.conftest import login, post
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
from workflows.sweep import SWEEP_FLAG


@pytest.fixture
def timed_enqueues(monkeypatch):
    """How long each after-commit enqueue took (outbox drain, emails): what Redis costs a request."""
    durations: list[float] = []
    for module, name in ((workflows.dispatch, "enqueue_drain"), (mail_dispatch, "enqueue_messages")):
        original = getattr(module, name)

        def timed(*args, _original=original, **kwargs):
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                durations.append(time.perf_counter() - started)

        monkeypatch.setattr(module, name, timed)
    return durations


def sweep_flag(redis: Redis):
    try:
        return redis.get(SWEEP_FLAG)
    except Exception:
        return None


@pytest.mark.parametrize("worker_across_restart", [True, False], ids=["worker-across", "worker-after"])
def test_redis_restarted_empty_loses_no_event(
    app,
    client,
    make_user,
    make_structure,
    workers,
    app_on_own_redis,
    with_test_rules,
    timed_enqueues,
    worker_across_restart,
):
    redis_server = app_on_own_redis
    redis = Redis.from_url(redis_server.url, socket_connect_timeout=0.5)
    workload = Workload(make_user, make_structure, structures=8)
    worker = workers.start("first", redis_url=redis_server.url)
    total = workload.write(100)
    wait_until(all_processed(total), 60, "events not processed before the restart")
    wait_until(lambda: sweep_flag(redis), 30, "no sweep chain before the restart")

    if not worker_across_restart:
        worker.kill()
    redis_server.stop()
    timed_enqueues.clear()
    # Users keep working: through the services, the HTML form and the API. (A drain job running when
    # Redis went away goes on until nothing is due: the first of these may be processed by it.)
    workload.write(60)
    time.sleep(1)
    animator = workload.animators[0]
    token = create_api_token(animator)
    db.session.commit()
    login(client, animator)
    structure_id = workload.structures[0][0]
    response = post(
        client,
        "/activites/nouvelle",
        {"kind": "visite", "structure_ids": str(structure_id), "occurred_on": "2025-01-15"},
    )
    assert response.status_code == 302
    response = client.post(
        "/api/v1/activities",
        json={"kind": "appel", "structure_ids": [structure_id]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201
    written_while_down = outbox_counts()
    assert written_while_down["pending"] >= 2  # no job can start: they wait for Redis and the sweep
    # The first enqueue found Redis gone (connection refused: fast); every later one skipped it.
    assert len(timed_enqueues) > 20
    assert max(timed_enqueues[1:]) < 0.1, sorted(timed_enqueues)[-5:]
    assert timed_enqueues[0] < 2.5

    redis_server.start()  # empty: the queued jobs, the flags and the scheduled sweep are gone
    assert sweep_flag(redis) is None
    if not worker_across_restart:
        workers.start("after", redis_url=redis_server.url)
    wait_until(
        all_processed(written_while_down["total"]),
        120,
        "events written while Redis was down not processed",
        interval=0.5,
    )
    # The chain is back: a sweep is scheduled, and it runs (it passes the flag on to its successor).
    first = wait_until(lambda: sweep_flag(redis), 30, "the sweep chain did not come back")
    wait_until(lambda: sweep_flag(redis) not in (None, first), 30, "the sweep chain does not run")
    assert assert_exactly_once() >= written_while_down["total"]  # and what the rules wrote
    if worker_across_restart:
        assert worker.alive(), "the worker quit when Redis went away"
