"""Redis connection and RQ queues, named by purpose (imports, default)."""
from __future__ import annotations

from flask import current_app
from redis import Redis
from rq import Queue


class QueueUnavailable(RuntimeError):
    """Redis is not configured or cannot be reached."""


def redis_connection() -> Redis:
    url = current_app.config.get("REDIS_URL")
    if not url:
        raise QueueUnavailable("REDIS_URL n'est pas configurée.")
    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def get_queue(name: str = "default") -> Queue:
    return Queue(name, connection=redis_connection())


def enqueue(queue_name: str, func: str, *args, **kwargs):
    """Enqueue ``func`` (a dotted path) and return the job; QueueUnavailable if Redis is down."""
    from redis.exceptions import RedisError

    try:
        return get_queue(queue_name).enqueue(func, *args, **kwargs)
    except RedisError as error:
        raise QueueUnavailable("La file de traitement (Redis) est injoignable.") from error
