"""Retries with back-off and dead letters under a real worker: a failing handler does not block its
batch, is retried after each back-off, is parked after the last retry, and is processed once an
admin replays it (from the "File d'événements" page); an event processed twice changes nothing."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

from sqlalchemy import func, select, update

from crm.platform.events import record_change
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent, utcnow
from tests.conftest import login, post
from tests.workflows.workers import (  # noqa: F401  (fixtures)
    all_processed,
    effects_by_event,
    outbox_counts,
    wait_until,
    with_test_rules,
    workers,
)
from tests.workflows.workload import Workload
from workflows.dispatch import RETRY_DELAYS
from workflows.models import RuleRun


def aware(value):
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def poison_event() -> int:
    record_change(
        entity_type="test", entity_id=1, action="test", changes=None, event_type="test.poison", payload={"poison": True}
    )
    db.session.commit()
    return db.session.scalar(select(func.max(OutboxEvent.id)))


def row(event_id: int) -> OutboxEvent:
    db.session.commit()
    db.session.expire_all()
    return db.session.get(OutboxEvent, event_id)


def test_retries_dead_letter_replay_and_idempotence(
    app, client, make_user, make_structure, workers, with_test_rules, tmp_path
):
    poison_file = tmp_path / "poison"
    poison_file.touch()
    workload = Workload(make_user, make_structure, structures=8)
    poisoned = poison_event()
    total = workload.write(150)  # written before any worker runs: one batch holds them all
    worker = workers.start("worker", env={"MAILLAGE_TEST_POISON_FILE": str(poison_file)})

    wait_until(lambda: outbox_counts()["processed"] == total - 1, 60, "healthy events not processed")
    failed = row(poisoned)
    assert failed.attempts == 1 and failed.processed_at is None and "poisoned event" in failed.last_error
    # Same batch, same transaction: the failure's back-off starts at the others' processed_at.
    neighbour = db.session.scalar(select(OutboxEvent.processed_at).where(OutboxEvent.id == poisoned + 1))
    assert aware(failed.next_attempt_at) == aware(neighbour) + timedelta(seconds=RETRY_DELAYS[0])

    # Each back-off over, the sweep (every 2 s here) enqueues a drain and the event is tried again.
    for attempt in range(2, len(RETRY_DELAYS) + 2):
        db.session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id == poisoned)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
        before = utcnow()
        wait_until(lambda attempt=attempt: row(poisoned).attempts == attempt, 30, f"attempt {attempt} did not happen")
        failed = row(poisoned)
        if attempt <= len(RETRY_DELAYS):
            delay = timedelta(seconds=RETRY_DELAYS[attempt - 1])
            assert before + delay <= aware(failed.next_attempt_at) <= utcnow() + delay
            assert failed.dead_at is None
    assert failed.dead_at is not None and failed.next_attempt_at is None and failed.processed_at is None
    assert outbox_counts() == {"total": total, "processed": total - 1, "dead": 1, "pending": 0}

    # The admin sees it, fixes the cause, replays it from the page: processed, once.
    admin = make_user("admin", [])
    login(client, admin)
    page = client.get("/admin/file-evenements/").get_data(as_text=True)
    assert f'data-event-id="{poisoned}"' in page and "poisoned event" in page
    poison_file.unlink()
    response = post(client, f"/admin/file-evenements/{poisoned}/rejouer")
    assert response.status_code == 302
    wait_until(lambda: row(poisoned).processed_at is not None, 30, "replayed event not processed")
    assert row(poisoned).dead_at is None
    wait_until(all_processed(), 30, "the replay's own audit event not processed")
    runs = dict(
        db.session.execute(
            select(RuleRun.outcome, func.count()).where(RuleRun.rule == "test_poison").group_by(RuleRun.outcome)
        ).all()
    )
    assert runs == {"echec": len(RETRY_DELAYS) + 1, "ok": 1}

    # Processed twice: nothing changes the second time (rules skipped by their run key; indicators
    # re-derived from the records).
    from crm.indicators.readmodel.check import check
    from crm.tasks.models import Task

    def snapshot():
        db.session.commit()
        return (
            effects_by_event(),
            db.session.scalar(select(func.count()).select_from(RuleRun)),
            db.session.scalar(select(func.count()).select_from(Task)),
            db.session.scalar(select(func.count()).select_from(AuditEntry)),
        )

    before = snapshot()
    db.session.execute(update(OutboxEvent).values(processed_at=None))
    db.session.commit()
    wait_until(all_processed(), 60, "events reset were not processed again")
    assert snapshot() == before
    assert check() == []
    assert worker.alive()
