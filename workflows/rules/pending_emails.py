"""Emails left pending (Redis away when they were written, a worker killed while sending): the sweep
enqueues them again. A catch-up, not a rule: it follows no event, it repairs a lost signal.
"""

from __future__ import annotations

from crm.mail.services import sweep_pending_emails
from workflows.registry import CatchUp


def run() -> dict:
    return {"emails_enqueued": sweep_pending_emails()}


CATCH_UP = CatchUp(name="pending_emails", run=run)
