"""A worker killed (SIGKILL) in the middle of a batch: the batch's transaction dies with it, its events
stay pending, and once a worker runs again every event is processed once and the indicators equal a
full recomputation.

A test rule holds the first activity of the batch (its effects on the events before it already
written, not committed, the rows locked) so that the kill lands inside the drain job for sure.
"""

from __future__ import annotations

import os
import signal

import pytest
from redis import Redis
from rq import Queue
from rq.registry import FailedJobRegistry

from tests.workflows.workers import (  # noqa: F401  (fixtures)
    all_processed,
    assert_exactly_once,
    effects_by_event,
    outbox_counts,
    wait_until,
    with_test_rules,
    workers,
)
from tests.workflows.workload import Workload


@pytest.mark.parametrize("victim", ["work horse", "worker with its horse and scheduler"])
def test_a_worker_killed_mid_batch_loses_nothing_and_counts_nothing_twice(
    app, test_env, tmp_path, make_user, make_structure, workers, with_test_rules, victim
):
    workload = Workload(make_user, make_structure, structures=10)
    total = workload.write(700)  # more than one batch (500)
    paused = tmp_path / "paused"
    worker = workers.start(
        "victim", env={"MAILLAGE_TEST_PAUSE_FILE": str(paused), "MAILLAGE_TEST_PAUSE_SECONDS": "300"}
    )
    horse_pid = int(wait_until(lambda: paused.exists() and paused.read_text(), 60, "no batch started"))
    # Mid-batch: rules have acted on the events before the paused one, nothing is committed.
    assert horse_pid in worker.pids() and horse_pid != worker.pid
    assert outbox_counts()["processed"] == 0 and effects_by_event() == {}

    if victim == "work horse":
        os.kill(horse_pid, signal.SIGKILL)
        # RQ's worker sees its horse die and fails the job; the worker itself lives on, and its
        # periodic sweep finds the events still due and enqueues a new drain.
        connection = Redis.from_url(test_env["REDIS_URL"])
        wait_until(
            lambda: FailedJobRegistry(queue=Queue("outbox", connection=connection)).count,
            30,
            "the killed drain job was not failed",
        )
        survivor = worker
    else:
        worker.kill()  # the worker, its work horse and its scheduler, all at once
        assert outbox_counts()["processed"] == 0
        survivor = workers.start("successor")

    wait_until(all_processed(total), 120, "events left pending after the kill", interval=0.5)
    assert survivor.alive()
    assert assert_exactly_once() >= total  # with the events the workflow rules wrote (projects, tasks)
