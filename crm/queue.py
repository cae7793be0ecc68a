"""Redis connection and RQ queues, named by purpose (outbox, mail, imports, default).

Redis only carries signals ("there is work"): the records and their outbox events are in the database.
So a user's request must never fail nor wait because Redis is down. After one failure, the URL is
marked unavailable for ``REDIS_RETRY_AFTER`` seconds and every caller gets :class:`QueueUnavailable`
at once, without a network round trip (a circuit breaker); the periodic sweep catches up afterwards.
"""
from __future__ import annotations

import time

from flask import current_app
from redis import Redis
from rq import Queue

# Seconds during which a Redis that just failed is not tried again by this process.
REDIS_RETRY_AFTER = 5.0
_unavailable_until: dict[str, float] = {}


class QueueUnavailable(RuntimeError):
    """Redis is not configured or cannot be reached."""


def mark_unavailable(url: str | None = None) -> None:
    """Open the circuit breaker for ``url`` (the app's ``REDIS_URL`` by default) after a Redis error."""
    url = url if url is not None else current_app.config.get("REDIS_URL")
    if url:
        _unavailable_until[url] = time.monotonic() + REDIS_RETRY_AFTER


def reset_availability() -> None:
    """Forget every failure seen (tests restart Redis on purpose)."""
    _unavailable_until.clear()


def redis_connection() -> Redis:
    """The app's Redis client for ``REDIS_URL``, made once: its pool keeps connections open (thread-safe).

    Raises QueueUnavailable without trying while the URL's circuit breaker is open.
    """
    url = current_app.config.get("REDIS_URL")
    if not url:
        raise QueueUnavailable("REDIS_URL n'est pas configurée.")
    if time.monotonic() < _unavailable_until.get(url, 0.0):
        raise QueueUnavailable("La file de traitement (Redis) est injoignable.")
    clients = current_app.extensions.setdefault("crm.redis", {})
    if url not in clients:
        clients[url] = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
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
    from redis.exceptions import RedisError

    try:
        return get_queue(queue_name).enqueue(func, *args, **kwargs)
    except RedisError as error:
        mark_unavailable()
        raise QueueUnavailable("La file de traitement (Redis) est injoignable.") from error
