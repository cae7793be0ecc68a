"""Which departments an activity concerns, kept beside it for the list filtered by department.

``activity_departments`` holds one row per (activity, department of one of its structures) with the
activity's day. It is derived data, written in the same transaction as what it follows:

- an activity logged or edited (its structures or its day changed): :func:`write_for`;
- a structure moving department (by hand or by a FINESS import): the structures' signal, received by
  :func:`follow_department`, re-derives the rows of that structure's activities;
- the demo seed and the migration that created the table: :func:`rebuild_all`.

A deleted activity takes its rows with it (foreign key cascade).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import delete, insert, select

from crm.activities.models import Activity, activity_departments, activity_structures
from crm.platform import signals
from crm.platform.extensions import db
from crm.structures.models import Structure

AD = activity_departments


def write_for(activity_id: int, occurred_on: date, department_codes: Iterable[str], *, replace: bool) -> None:
    """The rows of one activity from what the caller holds (no read back); ``replace`` drops the old ones."""
    connection = db.session.connection()
    if replace:
        connection.execute(delete(AD).where(AD.c.activity_id == activity_id))
    codes = sorted({code for code in department_codes if code})
    if codes:
        connection.execute(
            insert(AD),
            [{"activity_id": activity_id, "department_code": code, "occurred_on": occurred_on} for code in codes],
        )


def _derived(activity_ids=None):
    """(activity_id, department_code, occurred_on) of the given activities (a select of ids), or of all."""
    statement = (
        select(Activity.id, Structure.department_code, Activity.occurred_on)
        .join(activity_structures, activity_structures.c.activity_id == Activity.id)
        .join(Structure, Structure.id == activity_structures.c.structure_id)
        .where(Structure.department_code.is_not(None))
        .distinct()
    )
    if activity_ids is not None:
        statement = statement.where(Activity.id.in_(activity_ids))
    return statement


def rederive(activity_ids) -> None:
    """Re-derive the rows of ``activity_ids`` (a list, or a select of ids) from their structures."""
    connection = db.session.connection()
    connection.execute(delete(AD).where(AD.c.activity_id.in_(activity_ids)))
    connection.execute(
        insert(AD).from_select(["activity_id", "department_code", "occurred_on"], _derived(activity_ids))
    )


def rebuild_all() -> None:
    """Every row again, from the links (the seed after its bulk writes)."""
    connection = db.session.connection()
    connection.execute(delete(AD))
    connection.execute(insert(AD).from_select(["activity_id", "department_code", "occurred_on"], _derived()))


def follow_department(_sender, *, structure_ids: list[int]) -> None:
    """Structures changed department: their activities' rows follow, in the same transaction."""
    if structure_ids:
        rederive(select(activity_structures.c.activity_id).where(activity_structures.c.structure_id.in_(structure_ids)))


def connect() -> None:
    """Subscribe to the structures' signal (idempotent: blinker keeps one connection per receiver)."""
    signals.structure_department_changed.connect(follow_department)
