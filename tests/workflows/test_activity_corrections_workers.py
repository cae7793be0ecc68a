"""Activity corrections under real ``rq worker`` processes: two workers drain a stream of logs, edits and
deletions (some of activities already gone when their edit is processed); the read model they leave
equals a full recomputation, and counts only what remains."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from crm.activities.models import Activity
from crm.activities.services import delete_activity, log_activity, update_activity
from crm.indicators.readmodel import models as m
from crm.indicators.readmodel.check import check
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.referential.models import Sector
from tests.workflows.workers import all_processed, outbox_counts, wait_until, workers  # noqa: F401  (fixture)


def test_two_workers_follow_edits_and_deletions(workers, make_user, make_structure):
    animator = make_user("animateur", ["31"])
    ehpad_sector = db.session.scalar(select(Sector.id).where(Sector.code == "medico_social"))
    structures = [make_structure(name=f"EHPAD {i}", sector_id=ehpad_sector) for i in range(6)]
    today = local_today()
    ids = [
        log_activity(
            {"kind": "visite", "structure_ids": [s.id], "is_information": True, "occurred_on": today.isoformat()},
            user=animator,
        ).id
        for s in structures
    ]
    for number, activity_id in enumerate(ids):
        activity = db.session.get(Activity, activity_id)
        if number % 3 == 0:  # moved to last year
            update_activity(activity, {"occurred_on": (today - timedelta(days=400)).isoformat()}, user=animator)
        elif number % 3 == 1:  # no longer an information activity, then deleted
            update_activity(activity, {"is_information": False}, user=animator)
            delete_activity(db.session.get(Activity, activity_id), user=animator)
        else:  # moved to another structure
            update_activity(activity, {"structure_ids": [structures[0].id]}, user=animator)
    total = outbox_counts()["total"]
    for name in ("w1", "w2"):
        workers.start(name)
    wait_until(all_processed(total), 240, "events still pending", interval=0.5)
    assert check() == []
    days = m.ParticipationDay.__table__
    this_year = db.session.scalars(
        select(days.c.structure_id).where(days.c.day >= date(today.year, 1, 1)).distinct()
    ).all()
    assert sorted(this_year) == [structures[0].id]  # the two moved activities now both concern EHPAD 0
    assert db.session.scalar(select(func.count()).select_from(Activity)) == 4
