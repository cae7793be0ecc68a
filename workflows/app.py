"""The Flask app as seen from RQ jobs: one per worker process, built when the worker starts
(:class:`workflows.worker.Worker`, so that its work horses inherit it) or else by the first job."""

from __future__ import annotations

from contextlib import contextmanager

_app = None


def get_app():
    global _app
    if _app is None:
        # Imported when a worker first needs the app: crm's app factory imports workflows (the rules'
        # blueprint, the dispatcher), so a top-level import here would be a cycle.
        from crm import create_app

        _app = create_app()
    return _app


@contextmanager
def app_context():
    with get_app().app_context():
        yield
