"""Batches of activity events only run side by side on PostgreSQL: each holds the activities it re-derives,
then the structures whose days it re-derives, and the cells move by deltas, which add up in any order
(``crm.indicators.readmodel.upkeep.apply_events``). Two workers draining one backlog of activities that
share a few structures, in small batches, process each event once, without a failed batch, and leave the
indicators equal to a full recomputation."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm.indicators.readmodel.check import check
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent
from tests.workflows.workload import Workload
from workflows.dispatch import process_batch, process_pending


def _drain(app, barrier: threading.Barrier, processed: list[int], index: int, errors: list[str]) -> None:
    with app.app_context():
        try:
            barrier.wait(10)
            while True:
                result = process_batch(limit=15)
                processed[index] += result.processed
                if result.failed or result.dead:
                    errors.append(str(result.errors))
                if result.claimed == 0:
                    return
        except Exception as error:  # reported by the test
            errors.append(repr(error))
        finally:
            db.session.remove()


def test_two_workers_share_a_backlog_of_activities_on_the_same_structures(app, make_user, make_structure, caplog):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises every batch: only PostgreSQL runs two side by side")
    workload = Workload(make_user, make_structure, structures=6)
    process_pending()  # the structures' and events' own events: the backlog below is activities only
    for _ in range(300):
        workload.activity()
    # Corrections too: an activity moved to other structures and another day, one deleted.
    from crm.activities.models import Activity
    from crm.activities.services import delete_activity, update_activity

    ids = sorted(db.session.scalars(select(Activity.id)))
    animator = workload.animators[0]
    for activity_id in ids[::25]:
        activity = db.session.get(Activity, activity_id)
        update_activity(
            activity,
            {
                "kind": activity.kind,
                "occurred_on": (local_today() - timedelta(days=400)).isoformat(),
                "structure_ids": [workload.structures[0][0], workload.structures[-1][0]],
                "is_information": True,
                "offer_ids": [],
                "programme_ids": [],
            },
            user=animator,
        )
    delete_activity(db.session.get(Activity, ids[1]), user=animator)
    db.session.commit()
    types = set(db.session.scalars(select(OutboxEvent.type).where(OutboxEvent.processed_at.is_(None))))
    assert types <= {"activity.logged", "activity.updated", "activity.deleted"}, types

    caplog.set_level(logging.WARNING, logger="workflows.dispatch")
    barrier, processed, errors = threading.Barrier(2), [0, 0], []
    threads = [threading.Thread(target=_drain, args=(app, barrier, processed, i, errors)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    assert not [record.getMessage() for record in caplog.records if "failed" in record.getMessage()]
    assert all(processed), processed  # both took batches
    db.session.commit()
    assert db.session.scalar(select(func.count()).where(OutboxEvent.processed_at.is_(None))) == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.attempts > 1)) == 0
    assert check() == []
