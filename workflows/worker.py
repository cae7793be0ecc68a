"""The RQ worker class of Maillage: ``rq worker -w workflows.worker.Worker --with-scheduler ...``.

Plain RQ, plus what the outbox needs of it:

* On its heartbeat it makes sure the periodic outbox sweep is scheduled and that its scheduler
  process is alive, so that the sweep chain comes back by itself after Redis lost its data (a
  restart without persistence), with no cron and no user action. RQ heartbeats an idle worker once
  per dequeue timeout (``worker_ttl - 15`` = 405 s): it now wakes up every ``IDLE_WAKEUP`` seconds.
  And RQ's scheduler process exits on the first Redis error, restarted by the worker's maintenance
  only every 10 minutes: the heartbeat restarts it as soon as Redis answers again.
* When it starts, it asks for one sweep at once: what a killed worker left (its drain job is lost
  with it) is picked up without waiting for the chain, whose scheduler lock the dead worker may
  still hold for a minute.
* It outlives a Redis restart or a hung Redis. RQ's own loop only survives a refused connection while
  waiting for a job; anywhere else (running a job, its maintenance), and on a socket timeout anywhere
  (a Redis that accepts connections and never answers: "Redis connection timeout, quitting..."), the
  worker quits. Here it waits for Redis to answer again, probing it every few seconds with a short
  timeout, then goes on: the database holds the work, Redis only the signals.
* It builds the app before forking, so that each work horse inherits it instead of importing every
  module and building it again (seconds per job, most of a small drain's time).
"""

from __future__ import annotations

import contextlib
import os
import time

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from rq import Queue, worker_registration
from rq import Worker as RQWorker

from crm.platform.extensions import db
from workflows import app as worker_app  # looked up at each call: a test substitutes get_app
from workflows.dispatch import QUEUE
from workflows.sweep import DEFAULT_INTERVAL, SWEEP_JOB, ensure_scheduled

IDLE_WAKEUP = 10  # seconds between two heartbeats of an idle worker
SWEEP_CHECK_EVERY = 5  # seconds between two checks of the sweep chain
REDIS_LOST = (RedisConnectionError, RedisTimeoutError)
PROBE_TIMEOUT = 2.0  # seconds a probe of a lost Redis waits for its answer
PROBE_MAX_INTERVAL = 5.0  # seconds at most between two probes: how late the worker may notice Redis is back


class Worker(RQWorker):
    _sweep_checked_at = 0.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)

        worker_app.get_app()

    def main_work_horse(self, *args, **kwargs):
        # A forked horse must not use the parent's database connections (the parent holds none, but
        # a pool is not to be shared across a fork): forget them, keep the pool's settings.

        with worker_app.get_app().app_context():
            db.engine.dispose(close=False)
        return super().main_work_horse(*args, **kwargs)

    def work(self, *args, **kwargs):
        self._enqueue_catch_up_sweep("worker start")
        return super().work(*args, **kwargs)

    def _enqueue_catch_up_sweep(self, why: str) -> None:
        """One sweep now: what was written while no job could run is processed without waiting for the chain
        (the enqueues of that time were lost, or left a drain flag set without its job)."""
        try:
            Queue(QUEUE, connection=self.connection).enqueue(
                SWEEP_JOB,
                reschedule=False,
                job_timeout=600,
                result_ttl=300,
                failure_ttl=7 * 86400,
                description=f"outbox sweep ({why})",
            )
        except Exception as error:  # Redis down: the heartbeat's chain catches up once it is back
            self.log.warning("Outbox catch-up sweep not enqueued: %s", error)

    @property
    def dequeue_timeout(self) -> int:
        return min(super().dequeue_timeout, IDLE_WAKEUP)

    # --- the sweep chain ---------------------------------------------------------------------------

    def heartbeat(self, *args, **kwargs):
        try:
            super().heartbeat(*args, **kwargs)
        except REDIS_LOST as error:
            # Waiting for a job, the next Redis call fails too and RQ retries with a back-off; after a
            # job, the next loop waits for Redis (check_for_suspension).
            self.log.warning("Heartbeat lost (Redis unreachable: %s)", error)
            return
        if os.getpid() != self.pid:  # the work horse heartbeats too; the chain is the worker's business
            return
        now = time.monotonic()
        if now - self._sweep_checked_at < SWEEP_CHECK_EVERY:
            return
        self._sweep_checked_at = now
        try:
            self._revive_scheduler()
            ensure_scheduled(self.connection, int(os.environ.get("OUTBOX_SWEEP_SECONDS", DEFAULT_INTERVAL)))
        except Exception as error:  # Redis gone again: the next heartbeat tries again
            self.log.warning("Outbox sweep not scheduled: %s", error)

    def _revive_scheduler(self) -> None:
        """What RQ's maintenance does every 10 minutes: restart a dead scheduler if its lock is free."""
        scheduler = self.scheduler
        if scheduler is None or (scheduler._process is not None and scheduler._process.is_alive()):
            return
        scheduler.acquire_locks(auto_start=True)

    # --- outliving a Redis restart -------------------------------------------------------------------

    def execute_job(self, job, queue):
        try:
            return super().execute_job(job, queue)
        except REDIS_LOST as error:
            self._wait_for_redis(error)

    def run_maintenance_tasks(self):
        try:
            return super().run_maintenance_tasks()
        except REDIS_LOST as error:
            self._wait_for_redis(error)

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        # RQ retries a refused connection here, not a timeout: a hung Redis made the worker quit.
        while True:
            try:
                return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            except RedisTimeoutError as error:
                self._wait_for_redis(error)
                if self._stop_requested:
                    return None

    def check_for_suspension(self, burst: bool):
        try:
            return super().check_for_suspension(burst)
        except REDIS_LOST as error:
            self._wait_for_redis(error)

    def _wait_for_redis(self, error: Exception) -> None:
        self.log.warning("Worker %s: Redis lost (%s), waiting for it to come back", self.name, error)
        if self._horse_pid:  # the job may still run: it is the database's business, let it finish
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._horse_pid, 0)
            self._horse_pid = 0
        delay = 0.5
        probe = self._redis_probe()
        try:
            while not self._stop_requested:
                try:
                    probe.ping()
                    break
                except REDIS_LOST:
                    time.sleep(delay)
                    delay = min(delay * 2, PROBE_MAX_INTERVAL)
        finally:
            probe.connection_pool.disconnect()
        with contextlib.suppress(*REDIS_LOST):
            # An emptied Redis forgot the worker: list it again (``rq info``, the registries' cleanup).
            worker_registration.register(self)
        self.log.info("Worker %s: Redis is back", self.name)
        if not self._stop_requested:
            self._enqueue_catch_up_sweep("Redis back")

    def _redis_probe(self) -> Redis:
        """A client to the worker's Redis that gives up after PROBE_TIMEOUT, without retries: the worker's own
        waits up to its dequeue timeout + 10 s per attempt, and redis-py retries, on a hung server."""
        pool = self.connection.connection_pool
        kwargs = {
            **pool.connection_kwargs,
            "socket_timeout": PROBE_TIMEOUT,
            "socket_connect_timeout": PROBE_TIMEOUT,
            "retry": Retry(NoBackoff(), 0),
        }
        return Redis(connection_pool=type(pool)(connection_class=pool.connection_class, max_connections=1, **kwargs))
