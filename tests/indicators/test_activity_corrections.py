"""Correcting an activity moves the indicators: the date moved out of the period, a structure removed, the
information flag cleared, the activity deleted. After each correction the read model kept by the worker
equals a full recomputation (``check()``), and its cells say what the indicators must say."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from crm.activities.models import Activity
from crm.activities.services import delete_activity, log_activity, update_activity
from crm.indicators.readmodel import models as m
from crm.indicators.readmodel.check import check
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent
from crm.tasks.models import Task
from tests.indicators.conftest import offer
from workflows.dispatch import process_pending


def _year_cells(year: int) -> dict[tuple[str, str], int]:
    """Structures that took part in an information activity in ``year``, per (department, sector)."""
    c = m.ParticipationCell
    rows = db.session.execute(
        select(c.department_code, c.sector, c.structures).where(
            c.period_kind == "annee",
            c.period_start == date(year, 1, 1),
            c.programme_id == m.ANY,
            c.animator_id == m.ANY,
        )
    ).all()
    return {(department, sector): count for department, sector, count in rows}


def _presentations() -> int:
    return db.session.scalar(select(func.coalesce(func.sum(m.OfferPresentationCell.presentations), 0)))


def _settle():
    result = process_pending()
    assert result.failed == 0 and result.dead == 0, result.errors
    assert check() == []


def _reload(activity_id: int) -> Activity:
    db.session.expire_all()
    return db.session.get(Activity, activity_id)


def test_each_correction_moves_the_indicators_as_a_rebuild_would(territory):
    t = territory
    this_year, last_year = t.today.year, t.today.year - 1
    activity = log_activity(
        {
            "kind": "visite",
            "structure_ids": [t.ehpad.id, t.ch.id],
            "is_information": True,
            "offer_ids": [offer("VT_GRAND_AGE").id],
            "occurred_on": t.today.isoformat(),
        },
        user=t.animator,
    )
    kept = log_activity(
        {"kind": "appel", "structure_ids": [t.cpts.id], "is_information": True}, user=t.animator
    )  # untouched: its cells must not move
    activity_id = activity.id
    _settle()
    cpts = {("31", "exercice_coordonne"): 1}
    assert _year_cells(this_year) == {("31", "medico_social"): 1, ("31", "sanitaire"): 1, **cpts}
    assert _presentations() == 1  # one offer presented at one meeting of the department

    # The date moved out of the period: this year's cells empty, last year's filled.
    update_activity(_reload(activity_id), {"occurred_on": date(last_year, 6, 3).isoformat()}, user=t.animator)
    _settle()
    assert _year_cells(this_year) == cpts
    assert _year_cells(last_year) == {("31", "medico_social"): 1, ("31", "sanitaire"): 1}

    # A structure removed: the CH no longer took part.
    update_activity(_reload(activity_id), {"structure_ids": [t.ehpad.id]}, user=t.animator)
    _settle()
    assert _year_cells(last_year) == {("31", "medico_social"): 1}
    assert _presentations() == 1

    # The information flag cleared: no participation left, the offer still presented.
    update_activity(_reload(activity_id), {"is_information": False}, user=t.animator)
    _settle()
    assert _year_cells(last_year) == {}
    assert _presentations() == 1

    # Deleted: no presentation left; the audit keeps what it was.
    delete_activity(_reload(activity_id), user=t.animator)
    _settle()
    assert _presentations() == 0
    assert db.session.get(Activity, activity_id) is None
    trace = db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.entity_type == "activity", AuditEntry.entity_id == activity_id)
        .order_by(AuditEntry.id)
    ).all()
    assert [entry.action for entry in trace] == ["create", "update", "update", "update", "delete"]
    assert trace[-1].changes["structures"] == [[t.ehpad.id], None]
    assert trace[-1].changes["kind"] == ["visite", None] and trace[-1].user_id == t.animator.id
    assert trace[1].changes["occurred_on"] == [t.today.isoformat(), date(last_year, 6, 3).isoformat()]
    types = db.session.scalars(
        select(OutboxEvent.type)
        .where(OutboxEvent.aggregate_type == "activity", OutboxEvent.aggregate_id == activity_id)
        .order_by(OutboxEvent.id)
    ).all()
    assert types == ["activity.logged", "activity.updated", "activity.updated", "activity.updated", "activity.deleted"]
    assert _year_cells(this_year) == cpts
    src = m.ParticipationSource
    assert db.session.scalars(select(src.source_id).where(src.source_type == "activity")).all() == [kept.id]


def test_an_edit_and_a_deletion_processed_together_after_the_activity_is_gone(territory):
    """The worker meets an activity.updated event whose activity no longer exists (and the next-step rule
    too): nothing fails, and the read model equals a rebuild."""
    t = territory
    activity = log_activity({"kind": "visite", "structure_ids": [t.ehpad.id], "is_information": True}, user=t.animator)
    activity_id = activity.id
    _settle()
    assert _year_cells(t.today.year) == {("31", "medico_social"): 1}
    update_activity(
        _reload(activity_id),
        {"structure_ids": [t.ch.id], "next_step": "Rappeler", "next_step_due_on": t.today.isoformat()},
        user=t.animator,
    )
    delete_activity(_reload(activity_id), user=t.animator)
    _settle()
    assert _year_cells(t.today.year) == {}
    assert db.session.scalar(select(func.count()).select_from(Task)) == 0


def test_a_next_step_added_by_an_edit_becomes_one_task(territory):
    t = territory
    activity = log_activity({"kind": "visite", "structure_ids": [t.ehpad.id]}, user=t.animator)
    activity_id = activity.id
    _settle()
    update_activity(
        _reload(activity_id),
        {"next_step": "Envoyer la convention", "next_step_due_on": t.today.isoformat()},
        user=t.animator,
    )
    update_activity(_reload(activity_id), {"notes": "Convention prête"}, user=t.animator)
    _settle()
    tasks = db.session.scalars(select(Task).where(Task.activity_id == activity_id)).all()
    assert [(task.title, task.owner_id) for task in tasks] == [("Envoyer la convention", t.animator.id)]


def test_an_edit_that_changes_nothing_writes_nothing(territory):
    t = territory
    activity = log_activity({"kind": "visite", "structure_ids": [t.ehpad.id]}, user=t.animator)
    before = db.session.scalar(select(func.count()).select_from(OutboxEvent))
    update_activity(_reload(activity.id), {"kind": "visite", "structure_ids": [t.ehpad.id]}, user=t.animator)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(OutboxEvent)) == before
