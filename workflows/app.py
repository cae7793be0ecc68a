"""The Flask app as seen from RQ jobs: one per worker process, built when the worker starts
(:class:`workflows.worker.Worker`, so that its work horses inherit it) or else by the first job."""

from __future__ import annotations

from contextlib import contextmanager

_app = None


def get_app():
    global _app
    if _app is None:
        from crm import create_app

        _app = create_app()
    return _app


@contextmanager
def app_context():
    with get_app().app_context():
        yield
