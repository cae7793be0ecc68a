"""The sweep chain's bookkeeping in Redis, the worker's settings, and what a sweep decides (in this
process; tests/workflows/test_dispatch_redis_restart.py runs the chain in real workers)."""

from __future__ import annotations

import time

from rq import Queue
from rq.registry import ScheduledJobRegistry
from sqlalchemy import update

from crm.platform.events import record_change
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent, utcnow
from crm.platform.queue import QueueUnavailable, redis_connection, reset_availability
from workflows.dispatch import DRAIN_FLAG, enqueue_drain
from workflows.sweep import SWEEP_FLAG, SWEEP_JOB, arm, ensure_scheduled, run_sweep


def write_event():
    record_change(entity_type="test", entity_id=1, action="test", changes=None, event_type="test.nothing", payload={})
    db.session.commit()


def outbox_jobs(redis_conn) -> list[str]:
    return [job.func_name for job in Queue("outbox", connection=redis_conn).jobs]


def test_one_chain_at_a_time_and_a_sweep_passes_the_flag_on_only_if_it_is_its_own(app, redis_conn):
    assert ensure_scheduled(redis_conn, 15)
    job_id = redis_conn.get(SWEEP_FLAG).decode()
    scheduled = ScheduledJobRegistry(queue=Queue("outbox", connection=redis_conn))
    assert scheduled.get_job_ids() == [job_id]
    assert 55 <= redis_conn.ttl(SWEEP_FLAG) <= 60
    assert not ensure_scheduled(redis_conn, 15)  # a heartbeat finds it scheduled: nothing more
    # A sweep of an older chain (its flag expired and was replaced) does not reschedule: it ends.
    assert not ensure_scheduled(redis_conn, 15, successor_of="outbox-sweep-older")
    assert redis_conn.get(SWEEP_FLAG).decode() == job_id
    # The scheduled sweep, when it runs, passes the flag on to its successor.
    assert ensure_scheduled(redis_conn, 15, successor_of=job_id)
    successor = redis_conn.get(SWEEP_FLAG).decode()
    assert successor != job_id and successor in scheduled.get_job_ids()
    # Redis lost everything: the next heartbeat starts a new chain.
    redis_conn.flushdb()
    assert ensure_scheduled(redis_conn, 15)


def test_a_sweep_enqueues_a_drain_only_when_events_are_due(app, redis_conn):
    report = run_sweep(reschedule=False)
    assert report["drain_enqueued"] is False and report["errors"] == []
    assert outbox_jobs(redis_conn) == [] and not redis_conn.exists(SWEEP_FLAG)

    write_event()  # its after-commit hook enqueued a drain, and set the flag
    assert outbox_jobs(redis_conn) == ["workflows.jobs.drain_outbox"]
    redis_conn.flushdb()  # ...lost (Redis restarted): the flag would not let another one through
    redis_conn.set(DRAIN_FLAG, "1")
    assert enqueue_drain() is False
    report = run_sweep(reschedule=False)
    assert report["drain_enqueued"] is True
    assert outbox_jobs(redis_conn) == ["workflows.jobs.drain_outbox"]

    # In back-off: not due, no drain.
    redis_conn.flushdb()
    db.session.execute(update(OutboxEvent).values(next_attempt_at=utcnow().replace(year=2100)))
    db.session.commit()
    assert run_sweep(reschedule=False)["drain_enqueued"] is False


def test_the_periodic_sweep_reschedules_itself_first(app, redis_conn):
    report = run_sweep(job_id=None)  # e.g. a chain restarted by hand: the flag is free, it is taken
    assert report["rescheduled"] is True
    job_id = redis_conn.get(SWEEP_FLAG).decode()
    assert run_sweep(job_id="outbox-sweep-older")["rescheduled"] is False
    assert run_sweep(job_id=job_id)["rescheduled"] is True


def test_arm_never_raises(app, redis_conn):
    assert arm() is True
    assert arm() is False
    original = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    try:
        assert arm() is False
    finally:
        app.config["REDIS_URL"] = original
        reset_availability()


def test_with_redis_down_one_attempt_then_the_circuit_breaker(app, redis_conn):
    original = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    try:
        assert enqueue_drain() is False  # connection refused
        started = time.perf_counter()
        for _ in range(100):
            assert enqueue_drain() is False
        assert time.perf_counter() - started < 0.05  # not one network attempt
        try:
            redis_connection()
        except QueueUnavailable:
            pass
        else:
            raise AssertionError("the breaker should be open")
        # Another URL (the real one) is not affected.
        app.config["REDIS_URL"] = original
        assert enqueue_drain() is True
    finally:
        app.config["REDIS_URL"] = original
        reset_availability()


def test_the_worker_wakes_up_often_and_builds_the_app_before_forking(app, redis_conn, monkeypatch):
    import workflows.app
    from workflows.worker import IDLE_WAKEUP, Worker

    built = []
    monkeypatch.setattr(workflows.app, "get_app", lambda: built.append(True) or app)
    worker = Worker(["outbox"], connection=redis_conn)
    assert built  # in the worker process, before any fork
    assert worker.dequeue_timeout == IDLE_WAKEUP  # RQ's default: 405 s
    worker.heartbeat()
    assert redis_conn.exists(SWEEP_FLAG)  # the heartbeat armed the chain
    assert SWEEP_JOB == "workflows.jobs.sweep"


def test_logging_an_activity_with_redis_unreachable_neither_fails_nor_waits(
    app, client, make_user, make_structure, redis_conn
):
    from crm.accounts.services import create_api_token
    from tests.conftest import login, post

    animator = make_user("animateur", ["31"])
    # One structure per activity: the same activity logged twice within minutes is refused as a duplicate.
    structures = [make_structure() for _ in range(6)]
    token = create_api_token(animator)
    db.session.commit()
    login(client, animator)
    redis_conn.flushdb()  # the drain the set-up's commits enqueued
    original = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    try:
        timings = []
        for number in range(6):
            started = time.perf_counter()
            if number % 2:
                response = client.post(
                    "/api/v1/activities",
                    json={"kind": "appel", "structure_ids": [structures[number].id]},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert response.status_code == 201
            else:
                response = post(
                    client, "/activites/nouvelle", {"kind": "visite", "structure_ids": str(structures[number].id)}
                )
                assert response.status_code == 302
            timings.append(time.perf_counter() - started)
    finally:
        app.config["REDIS_URL"] = original
        reset_availability()
    from sqlalchemy import func, select

    pending = db.session.scalar(
        select(func.count())
        .select_from(OutboxEvent)
        .where(OutboxEvent.type == "activity.logged", OutboxEvent.processed_at.is_(None))
    )
    assert pending == 6  # written, waiting for the sweep
    assert outbox_jobs(redis_conn) == []
    # After the first refusal, no request tries Redis again: they take what the page itself takes.
    assert max(timings[1:]) < min(timings[1:]) + 0.5
