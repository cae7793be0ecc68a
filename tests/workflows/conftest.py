"""Workflow rule helpers: the real dispatcher in-process, the sweep's scheduled rules, runs and states."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select, update

from crm.platform import event_types
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent
from tests.events.conftest import event_type, make_event, organiser  # noqa: F401  (fixtures)
from workflows.dispatch import process_pending
from workflows.models import RuleRun, WorkflowRuleState
from workflows.sweep import run_scheduled_rules

# The dispatch tests' own event types (their rules in rules_for_tests): the outbox refuses undeclared ones.
event_types.declare("test.poison", ("poison",), "Dispatch tests: fails its rule while the poison file exists.")
event_types.declare("test.nothing", (), "Dispatch tests: an event no rule acts on.")


def process():
    """What a worker does after the commit: process every due outbox event (our real dispatcher)."""
    result = process_pending()
    db.session.expire_all()
    return result


def process_again(*event_types: str):
    """Idempotence: mark the (given types of) events unprocessed and process them once more."""
    statement = update(OutboxEvent).values(processed_at=None, next_attempt_at=None)
    if event_types:
        statement = statement.where(OutboxEvent.type.in_(event_types))
    db.session.execute(statement)
    db.session.commit()
    return process()


def sweep(now: datetime | None = None) -> dict[str, int]:
    """The scheduled rules, as the periodic sweep runs them (``force``: whatever their interval)."""
    done = run_scheduled_rules(now, force=True)
    db.session.expire_all()
    return done


def runs(rule: str, outcome: str | None = None) -> list[RuleRun]:
    query = select(RuleRun).where(RuleRun.rule == rule).order_by(RuleRun.id)
    if outcome:
        query = query.where(RuleRun.outcome == outcome)
    return list(db.session.scalars(query))


def state(rule: str) -> WorkflowRuleState:
    db.session.expire_all()
    return db.session.get(WorkflowRuleState, rule)


def set_rule(rule: str, *, enabled: bool = True, **settings) -> None:
    """Switch a rule on or off and give it settings, as the admin page does (without the page)."""
    from workflows.dispatch import rule_states

    found = rule_states()[rule]
    found.enabled = enabled
    found.settings = {**(found.settings or {}), **settings}
    db.session.commit()


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def outbox(event_type: str) -> list[OutboxEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == event_type).order_by(OutboxEvent.id)))


@pytest.fixture
def break_rule():
    """Make a rule's action raise for the subjects ``fails`` picks (all by default): a bug, a refused change.

    Rules are frozen dataclasses listed once in ``RULES``: the action is swapped on the object, and put
    back after the test.
    """
    from workflows.registry import all_rules

    restore = []

    def do(rule_name: str, fails=lambda subject: True):
        """Returns the repair: the rule's own action back (the next run succeeds)."""
        rule = next(r for r in all_rules() if r.name == rule_name)
        original = rule.action

        def action(subject, settings):
            if fails(subject):
                raise RuntimeError(f"panne simulée de {rule_name}")
            return original(subject, settings)

        restore.append((rule, original))
        object.__setattr__(rule, "action", action)
        return lambda: object.__setattr__(rule, "action", original)

    yield do
    for rule, original in reversed(restore):
        object.__setattr__(rule, "action", original)
