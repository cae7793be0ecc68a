"""Several real workers at once: every event processed exactly once, the indicators equal a full
recomputation (``crm.indicators.readmodel.check.check``)."""

from __future__ import annotations

import time

from tests.workflows.workers import all_processed, assert_exactly_once, wait_until, with_test_rules, workers  # noqa: F401
from tests.workflows.workload import Workload


def drain_results(redis_url: str) -> list[tuple[str, dict]]:
    """(worker name, what it did) of every drain job that finished."""
    from redis import Redis
    from rq import Queue
    from rq.job import Job
    from rq.registry import FinishedJobRegistry

    connection = Redis.from_url(redis_url)
    registry = FinishedJobRegistry(queue=Queue("outbox", connection=connection))
    jobs = Job.fetch_many(registry.get_job_ids(), connection=connection)
    return [
        (job.worker_name, job.return_value())
        for job in jobs
        if job is not None and job.func_name == "workflows.jobs.drain_outbox"
    ]


def test_three_workers_process_thousands_of_events_exactly_once(
    app, test_env, make_user, make_structure, workers, with_test_rules
):
    workload = Workload(make_user, make_structure)
    # A backlog first (written while no worker runs), that the three workers share out as they start...
    backlog = workload.write(1000)
    started = [workers.start(f"worker{i}") for i in range(3)]
    # ...then users keep working while they drain: each commit enqueues a drain (one waiting at most),
    # so drains run side by side on overlapping sets of due events.
    started_at = time.monotonic()
    total = workload.write(1000)
    written_at = time.monotonic()
    wait_until(all_processed(total), 240, "events still pending", interval=0.5)
    print(
        f"{backlog} + {total - backlog} events written in {written_at - started_at:.1f} s, "
        f"all processed {time.monotonic() - written_at:.1f} s later"
    )
    assert all(worker.alive() for worker in started)
    # Every event once, with the events the workflow rules wrote while processing (projects, tasks).
    processed = assert_exactly_once()
    assert processed >= total
    # The work was shared: several worker processes claimed events. A drain job's result reaches
    # Redis just after its transaction commits, so the last one may still be on its way.
    by_worker: dict[str, int] = {}

    def every_drain_reported():
        by_worker.clear()
        for name, result in drain_results(test_env["REDIS_URL"]):
            by_worker[name] = by_worker.get(name, 0) + result["processed"]
        return sum(by_worker.values()) == processed

    wait_until(every_drain_reported, 30, "drain results missing", interval=0.2)
    assert len([n for n in by_worker.values() if n]) >= 2, by_worker
