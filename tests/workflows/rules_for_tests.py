"""Workflow rules that exist only in the dispatch tests, and the worker class that loads them:
``rq worker -w tests.workflows.rules_for_tests.Worker`` is :class:`workflows.worker.Worker` with these
rules added to ``RULES`` (in the worker process, hence in its work horses).

The tests' own process installs them with :func:`install` (and removes them after).

* ``test_effect`` leaves one row per run of an event (an audit entry with no unique key): an event
  acted on twice would show two rows.
* ``test_pause`` stops its work horse in the middle of a batch, inside the dispatcher's transaction, when
  ``MAILLAGE_TEST_PAUSE_FILE`` is set: it writes its pid there and sleeps, for the test to kill it.
* ``test_poison`` fails on ``test.poison`` events while ``MAILLAGE_TEST_POISON_FILE`` names an existing
  file (the bug "fixed" when the test removes it).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy import insert

from crm.platform.extensions import db
from crm.platform.models import AuditEntry, utcnow
from workflows.registry import DomainEvent, Rule
from workflows.worker import Worker as MaillageWorker

# Every event type the services write that the dispatch tests produce.
EFFECT_TRIGGERS = (
    "activity.logged",
    "opportunity.created",
    "opportunity.stage_changed",
    "opportunity.updated",
    "project.created",
    "registration.created",
    "registration.waitlisted",
    "registration.cancelled",
    "registration.promoted",
    "attendance.recorded",
    "event.created",
    "event.changed",
    "structure.created",
    "task.created",
    "test.poison",
)


def _effect(event: DomainEvent, _settings: dict) -> str:
    db.session.execute(
        insert(AuditEntry.__table__).values(
            at=utcnow(), entity_type="test_effect", entity_id=event.id, action="effect", changes={}
        )
    )
    return f"effect of {event.id}"


def _pause(event: DomainEvent, _settings: dict) -> str | None:
    marker = os.environ.get("MAILLAGE_TEST_PAUSE_FILE")
    if marker and not Path(marker).exists():
        Path(marker).write_text(str(os.getpid()))
        time.sleep(float(os.environ.get("MAILLAGE_TEST_PAUSE_SECONDS", "60")))
    return None


def _is_poison(event: DomainEvent, _settings: dict) -> bool:
    return bool(event.payload.get("poison"))


def _poison(event: DomainEvent, _settings: dict) -> str:
    marker = os.environ.get("MAILLAGE_TEST_POISON_FILE")
    if marker and Path(marker).exists():
        raise RuntimeError(f"poisoned event {event.id}")
    return "cured"


TEST_RULES = [
    Rule(
        name="test_effect",
        label="Test : effet",
        description="Une ligne par événement traité.",
        triggers=EFFECT_TRIGGERS,
        action=_effect,
    ),
    Rule(
        name="test_pause",
        label="Test : pause",
        description="Arrête le lot pour un test.",
        triggers=("activity.logged",),
        action=_pause,
    ),
    Rule(
        name="test_poison",
        label="Test : poison",
        description="Échoue tant que le poison est là.",
        triggers=("test.poison",),
        condition=_is_poison,
        action=_poison,
    ),
]


def install() -> None:
    """Add the test rules to the dispatcher's list (idempotent)."""
    from workflows.rules import RULES

    names = {rule.name for rule in RULES}
    RULES.extend(rule for rule in TEST_RULES if rule.name not in names)


def uninstall() -> None:
    from workflows.rules import RULES

    RULES[:] = [rule for rule in RULES if rule not in TEST_RULES]


class Worker(MaillageWorker):
    """The real worker class, with the test rules (installed before any work horse is forked)."""

    def __init__(self, *args, **kwargs):
        install()
        super().__init__(*args, **kwargs)
