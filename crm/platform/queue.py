"""Redis connection and RQ queues, named by purpose (outbox, mail, imports, default).

Redis only carries signals ("there is work"): the records and their outbox events are in the database.
So a user's request must never fail nor wait because Redis is down or hangs:

* the app's client gives up after ``REDIS_TIMEOUT`` seconds (to connect, and for each answer), without
  retrying, so a Redis that accepts connections and never answers costs a request that much at most;
* after one failure, the URL is marked unavailable for ``REDIS_RETRY_AFTER`` seconds, for every process
  of the host (a circuit breaker kept in a file of the instance directory: its modification time is the
  last failure, read with one ``os.stat``): every caller gets :class:`QueueUnavailable` at once, without
  a network round trip. Then one process only (a lock on the file) probes Redis with a PING; the
  others keep skipping it meanwhile. The periodic sweep catches up on what was not enqueued.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from pathlib import Path

from flask import current_app, has_app_context
from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from rq import Queue

# Seconds during which a Redis that just failed is not tried again by any process of the host.
REDIS_RETRY_AFTER = 5.0
# Seconds the app's client waits to connect to Redis, and for each answer: what a hung Redis costs a request.
REDIS_TIMEOUT = 0.25
# Where the breaker's files are kept, under the app's instance directory.
BREAKER_DIR = "run"
_BREAKER_PREFIX = "redis-unavailable-"
# If the breaker's file cannot be written (read-only instance directory), this process remembers alone.
_unavailable_until: dict[str, float] = {}


class QueueUnavailable(RuntimeError):
    """Redis is not configured or cannot be reached."""


def _breaker_file(url: str) -> Path:
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return Path(current_app.instance_path) / BREAKER_DIR / f"{_BREAKER_PREFIX}{digest}"


def mark_unavailable(url: str | None = None) -> None:
    """Open the circuit breaker for ``url`` (the app's ``REDIS_URL`` by default) after a Redis error, for
    every process of the host."""
    url = url if url is not None else current_app.config.get("REDIS_URL")
    if not url:
        return
    path = _breaker_file(url)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()  # an existing file's modification time becomes now
    except OSError:
        _unavailable_until[url] = time.monotonic() + REDIS_RETRY_AFTER


def reset_availability() -> None:
    """Forget every failure seen (tests restart Redis on purpose)."""
    _unavailable_until.clear()
    if has_app_context():
        for path in (Path(current_app.instance_path) / BREAKER_DIR).glob(f"{_BREAKER_PREFIX}*"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _failed_recently(path: Path) -> bool | None:
    """True while the breaker is open, False once its time is over, None when it is closed (no file)."""
    try:
        failed_at = os.stat(path).st_mtime
    except FileNotFoundError:
        return None
    return time.time() - failed_at < REDIS_RETRY_AFTER


def _available(url: str, client: Redis) -> bool:
    """Whether to use Redis now: the breaker is closed, or this process probed it successfully."""
    if time.monotonic() < _unavailable_until.get(url, 0.0):
        return False
    path = _breaker_file(url)
    recent = _failed_recently(path)
    if recent is None:
        return True
    if recent:
        return False
    # Half open: one process probes, under a lock on the file; the others skip Redis meanwhile.
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:  # closed by another process's probe in between
        return True
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        recent = _failed_recently(path)
        if recent is not False:  # another process's probe closed it (None), or failed (True), in between
            return recent is None
        try:
            client.ping()
        except RedisError:
            os.utime(path)
            return False
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return True
    finally:
        os.close(fd)  # releases the lock


def redis_connection() -> Redis:
    """The app's Redis client for ``REDIS_URL``, made once: its pool keeps connections open (thread-safe).

    Raises QueueUnavailable without trying while the URL's circuit breaker is open.
    """
    url = current_app.config.get("REDIS_URL")
    if not url:
        raise QueueUnavailable("REDIS_URL n'est pas configurée.")
    clients = current_app.extensions.setdefault("crm.redis", {})
    if url not in clients:
        clients[url] = Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT, retry=Retry(NoBackoff(), 0)
        )
    if not _available(url, clients[url]):
        raise QueueUnavailable("La file de traitement (Redis) est injoignable.")
    return clients[url]


def get_queue(name: str = "default") -> Queue:
    # Kept per URL and name: a Queue asks the server its version (one more round trip) once, not per job.
    connection = redis_connection()
    queues = current_app.extensions.setdefault("crm.rq_queues", {})
    key = (current_app.config.get("REDIS_URL"), name)
    if key not in queues:
        queues[key] = Queue(name, connection=connection)
    return queues[key]


def enqueue(queue_name: str, func: str, *args, **kwargs):
    """Enqueue ``func`` (a dotted path) and return the job; QueueUnavailable if Redis is down."""
    try:
        return get_queue(queue_name).enqueue(func, *args, **kwargs)
    except RedisError as error:
        mark_unavailable()
        raise QueueUnavailable("La file de traitement (Redis) est injoignable.") from error
