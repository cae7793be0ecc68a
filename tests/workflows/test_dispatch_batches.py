"""The dispatcher in this process (``process_pending``, as the CLI runs it): batches, failures that
stay with their event, back-off, dead letters, replay, drains that hand over, the sweep's decisions.
The same machinery under real workers: the other test_dispatch_*.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from crm.platform.dates import local_today
from crm.platform.events import record_change
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent, utcnow
from tests.workflows import rules_for_tests
from workflows import dispatch
from workflows.dispatch import RETRY_DELAYS, outbox_status, process_pending, replay
from workflows.models import RuleRun, WorkflowRuleState
from workflows.rules import RULES


@pytest.fixture
def poison(monkeypatch, tmp_path):
    """The test rules installed; ``test_poison`` fails while the returned file exists (create it)."""
    path = tmp_path / "poison"
    monkeypatch.setenv("MAILLAGE_TEST_POISON_FILE", str(path))
    rules_for_tests.install()
    yield path
    rules_for_tests.uninstall()


def write_event(type_="test.poison", **payload) -> int:
    record_change(entity_type="test", entity_id=1, action="test", changes=None, event_type=type_, payload=payload)
    db.session.commit()
    return db.session.scalar(select(func.max(OutboxEvent.id)))


def event(event_id: int) -> OutboxEvent:
    db.session.expire_all()
    return db.session.get(OutboxEvent, event_id)


def aware(value):
    """SQLite gives back naive UTC datetimes."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def time_passes(event_id: int) -> None:
    """The back-off is over (the test does not wait for it)."""
    db.session.execute(
        update(OutboxEvent).where(OutboxEvent.id == event_id).values(next_attempt_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()


def test_a_failing_rule_fails_its_event_only_then_backs_off_then_parks_it(app, poison):
    poison.touch()
    poisoned = write_event(poison=True)
    healthy = [write_event(poison=False) for _ in range(3)]
    result = process_pending()
    assert (result.processed, result.failed, result.dead) == (3, 1, 0)
    assert all(event(i).processed_at is not None for i in healthy)
    failed = event(poisoned)
    assert failed.processed_at is None and failed.dead_at is None and failed.attempts == 1
    assert "poisoned event" in failed.last_error and failed.last_error.startswith("test_poison : ")
    # One transaction for the batch: the failure was written with the others' processed_at.
    assert failed.next_attempt_at == event(healthy[0]).processed_at + timedelta(seconds=RETRY_DELAYS[0])
    assert process_pending().claimed == 0  # not due before its back-off is over
    for attempt, delay in enumerate(RETRY_DELAYS[1:], start=2):
        time_passes(poisoned)
        before = utcnow()
        assert process_pending().failed == 1
        failed = event(poisoned)
        assert failed.attempts == attempt
        assert before + timedelta(seconds=delay) <= aware(failed.next_attempt_at) <= utcnow() + timedelta(seconds=delay)
    time_passes(poisoned)
    assert process_pending().dead == 1
    parked = event(poisoned)
    assert parked.attempts == len(RETRY_DELAYS) + 1 and parked.dead_at is not None
    assert parked.next_attempt_at is None and parked.processed_at is None
    status = outbox_status()
    assert (status.pending, status.dead, status.retrying) == (0, 1, 0)
    assert [e.id for e in dispatch.dead_letters()] == [poisoned]
    state = db.session.get(WorkflowRuleState, "test_poison")
    assert (state.runs, state.failures) == (len(RETRY_DELAYS) + 1, len(RETRY_DELAYS) + 1)
    assert "poisoned event" in state.last_error
    # Fixed, replayed: processed once, with a fresh set of retries.
    poison.unlink()
    assert replay([poisoned]) == [poisoned]
    db.session.commit()
    assert event(poisoned).attempts == 0 and event(poisoned).dead_at is None
    assert process_pending().processed == 1
    assert event(poisoned).processed_at is not None
    assert (
        db.session.scalar(
            select(func.count()).select_from(RuleRun).where(RuleRun.rule == "test_poison", RuleRun.outcome == "ok")
        )
        == 1
    )


def test_rules_already_run_are_skipped_when_the_event_is_attempted_again(app, poison):
    poison.touch()
    poisoned = write_event(poison=True)
    process_pending()
    effects = db.session.scalar(select(func.count()).select_from(RuleRun).where(RuleRun.rule == "test_effect"))
    assert effects == 1  # test_effect acted, test_poison failed: the event is retried...
    time_passes(poisoned)
    poison.unlink()
    assert process_pending().processed == 1
    # ...and test_effect does not act a second time.
    assert db.session.scalar(select(func.count()).select_from(RuleRun).where(RuleRun.rule == "test_effect")) == 1


def test_processing_an_event_again_changes_nothing(app, poison, make_user, make_structure):
    from crm.activities.services import log_activity
    from crm.indicators.readmodel.check import check
    from crm.platform.models import AuditEntry
    from crm.tasks.models import Task

    user = make_user("animateur", ["31"])
    structure = make_structure()
    for _ in range(3):
        log_activity(
            {
                "kind": "visite",
                "structure_ids": [structure.id],
                "is_information": True,
                "next_step": "Rappeler",
                "next_step_due_on": local_today().isoformat(),
            },
            user=user,
        )
    process_pending()

    def snapshot():
        db.session.commit()
        return (
            db.session.scalar(select(func.count()).select_from(RuleRun)),
            db.session.scalar(select(func.count()).select_from(Task)),
            db.session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.entity_type == "test_effect")
            ),
        )

    before = snapshot()
    events = db.session.scalar(select(func.count()).select_from(OutboxEvent))
    db.session.execute(update(OutboxEvent).values(processed_at=None))
    db.session.commit()
    assert process_pending().processed == events
    assert snapshot() == before
    assert outbox_status().pending == 0
    assert check() == []


def test_an_indicator_failure_is_found_by_processing_the_batch_one_by_one(app, poison, monkeypatch):
    """A failure outside any rule (the indicator maintenance) rolls the batch back; the dispatcher then
    processes its events one at a time: only the culprit fails."""
    import crm.indicators.readmodel.upkeep as maintenance

    culprit = write_event(poison=False, breaks_indicators=True)
    others = [write_event(poison=False) for _ in range(4)]
    real = maintenance.apply_events

    def apply_events(events):
        if any(e.payload.get("breaks_indicators") for e in events):
            raise RuntimeError("indicator maintenance failed")
        return real(events)

    monkeypatch.setattr(maintenance, "apply_events", apply_events)
    result = process_pending()
    assert (result.processed, result.failed) == (4, 1)
    assert all(event(i).processed_at is not None for i in others)
    failed = event(culprit)
    assert failed.attempts == 1 and "indicator maintenance failed" in failed.last_error
    # The rules of the failed event were rolled back with it: they run again on its next attempt.
    assert db.session.scalar(select(func.count()).select_from(RuleRun).where(RuleRun.event_id == culprit)) == 0


def test_a_failing_condition_fails_its_event_only(app, poison):
    bad = write_event(poison=True)
    good = write_event(poison=False)

    def condition(event, _settings):
        if event.payload.get("poison"):
            raise ValueError("condition bug")
        return False

    rule = next(r for r in rules_for_tests.TEST_RULES if r.name == "test_poison")
    index = RULES.index(rule)
    RULES[index] = replace(rule, condition=condition)
    try:
        result = process_pending()
    finally:
        RULES[index] = rule
    assert (result.processed, result.failed) == (1, 1)
    assert event(good).processed_at is not None
    assert "condition bug" in event(bad).last_error


def test_a_disabled_rule_does_not_run(app, poison):
    dispatch.rule_states()
    db.session.execute(update(WorkflowRuleState).where(WorkflowRuleState.name == "test_effect").values(enabled=False))
    db.session.commit()
    write_event(poison=False)
    assert process_pending().processed == 1
    assert db.session.scalar(select(func.count()).select_from(RuleRun).where(RuleRun.rule == "test_effect")) == 0


def test_replay_all_and_replay_of_what_is_not_dead(app, poison):
    ids = [write_event(poison=True) for _ in range(3)]
    db.session.execute(
        update(OutboxEvent).where(OutboxEvent.id.in_(ids[:2])).values(dead_at=utcnow(), attempts=len(RETRY_DELAYS) + 1)
    )
    db.session.commit()
    assert replay([ids[2]]) == []  # pending, not dead: nothing to replay
    assert replay([]) == []
    assert replay(None) == ids[:2]
    db.session.commit()
    assert outbox_status().dead == 0 and outbox_status().pending == 3


def test_outbox_status_and_freshness(app):
    status = outbox_status()
    assert (status.pending, status.dead, status.oldest_pending_at, status.age_seconds) == (0, 0, None, 0.0)
    first = write_event(poison=False)
    write_event(poison=False)
    db.session.execute(
        update(OutboxEvent).where(OutboxEvent.id == first).values(created_at=utcnow() - timedelta(minutes=3))
    )
    db.session.commit()
    status = outbox_status()
    assert status.pending == 2
    assert 179 < status.age_seconds < 200


def test_a_drain_stops_on_its_time_limit_and_says_more_is_due(app):
    for _ in range(5):
        write_event(poison=False)
    result = dispatch.drain(max_seconds=0, limit=2)
    assert result.processed == 2 and result.more_due
    result = dispatch.drain(max_seconds=60, limit=2)
    assert result.processed == 3 and not result.more_due
