"""What a workflow rule is: a trigger, a condition, an action; what a consumer is; and the lists of rules
and consumers the dispatcher runs (declared in :mod:`workflows.rules`).

An *event rule* runs for outbox events of its trigger types, inside the dispatcher's transaction: its
effects (an email queued, a task created) commit together with the event being marked processed, so a
rule acts once per event even if a worker dies or two workers race. A *scheduled rule* runs from the
periodic sweep for what has become due ("the day before the event"); its ``run_key`` per subject makes
each action happen once per person or record.

Rules never commit; they raise to fail (the run is logged, the event retried with back-off).

A *consumer* (the indicators' read model) follows every batch, whatever its events' types: it runs after
the rules, in the batch's transaction, on the whole batch. It has no state to switch off and no run log: a
consumer that raises fails the batch, which the dispatcher then processes event by event to fail only the
culprit. The dispatcher knows consumers only through this list, so that a domain's read model is not
imported by the plumbing that runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class DomainEvent:
    """An outbox row as rules and the indicator maintenance see it."""

    id: int
    type: str
    aggregate_type: str
    aggregate_id: int | None
    payload: dict
    actor_id: int | None
    created_at: datetime


def _always(_event: DomainEvent, _settings: dict) -> bool:
    return True


@dataclass(frozen=True)
class Setting:
    """A whole number an admin may change on the rules' page: its French label and its bounds."""

    name: str
    label: str
    default: int
    minimum: int
    maximum: int


def defaults_of(settings: Iterable[Setting]) -> dict[str, int]:
    return {setting.name: setting.default for setting in settings}


def origin(label: str) -> str:
    """What the history shows as the author of a rule's change made without a user: "Règle automatique : …"."""
    return f"Règle automatique : {label}"[:80]


@dataclass(frozen=True)
class Rule:
    name: str
    label: str  # French, for the admin page
    description: str  # French: the rule as a sentence
    triggers: tuple[str, ...]
    action: Callable[[DomainEvent, dict], str | None]  # returns what it did, for the run log
    condition: Callable[[DomainEvent, dict], bool] = _always
    defaults: dict[str, Any] = field(default_factory=dict)  # settings an admin can change
    settings: tuple[Setting, ...] = ()  # how the admin page shows and checks them


@dataclass(frozen=True)
class ScheduledRule:
    name: str
    label: str
    description: str
    # (now, settings) -> the due subjects, as (key, item): the key names the subject in the run log and
    # makes the action happen once ("registration:12"); subjects already done may be returned again.
    due: Callable[[datetime, dict], Iterable[tuple[str, Any]]]
    action: Callable[[Any, dict], str | None]
    defaults: dict[str, Any] = field(default_factory=dict)
    every: timedelta = timedelta(minutes=5)
    settings: tuple[Setting, ...] = ()


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Consumer:
    name: str
    description: str  # what it keeps in step, for the logs and the reader
    apply: Callable[[list[DomainEvent]], object]  # the batch's events, oldest first; the caller commits
    prepare: Callable[[], None] = _nothing  # before each batch is claimed and at each sweep (build once...)


@dataclass(frozen=True)
class CatchUp:
    """Work the periodic sweep does for a domain: what an after-commit signal may have missed (the emails
    left pending while Redis was away...). ``run`` returns the figures merged into the sweep's report."""

    name: str
    run: Callable[[], dict]


def all_rules() -> list[Rule | ScheduledRule]:
    # Imported when first needed: the rules' modules import this one (Rule, Setting), a true cycle.
    from workflows.rules import RULES

    return list(RULES)


def all_consumers() -> list[Consumer]:
    """The registered consumers, in the order they run (see :data:`workflows.rules.CONSUMERS`)."""
    # Imported when first needed, as the rules are (the consumers' modules import this one).
    from workflows.rules import CONSUMERS

    return list(CONSUMERS)


def all_catch_ups() -> list[CatchUp]:
    """The sweep's registered catch-ups (see :data:`workflows.rules.CATCH_UPS`)."""
    # Imported when first needed, as the rules are (their modules import this one).
    from workflows.rules import CATCH_UPS

    return list(CATCH_UPS)


def event_rules_by_trigger() -> dict[str, list[Rule]]:
    by_trigger: dict[str, list[Rule]] = {}
    for rule in all_rules():
        if isinstance(rule, Rule):
            for trigger in rule.triggers:
                by_trigger.setdefault(trigger, []).append(rule)
    return by_trigger


def scheduled_rules() -> list[ScheduledRule]:
    return [rule for rule in all_rules() if isinstance(rule, ScheduledRule)]
