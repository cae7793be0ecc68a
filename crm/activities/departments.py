"""The activity list's keys per department, kept beside each activity (crm/activities/models.py).

``activity_departments`` holds one row per (activity, department of one of its structures) with
``programme_id`` 0, and one per programme the activity discussed, with its kind and day. It is derived
data, written in the same transaction as what it follows:

- an activity logged or edited (its structures, day, kind, offers or programmes changed): :func:`write_for`;
- a structure moving department (by hand or by a FINESS import): the structures' signal, received by
  :func:`follow_department`, re-derives the rows of that structure's activities;
- the demo seed and the migration that created the table: :func:`rebuild_all`.

A deleted activity takes its rows with it (foreign key cascade).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, insert, literal, select, union

from crm.activities.models import (
    ALL_PROGRAMMES,
    Activity,
    activity_departments,
    activity_offers,
    activity_programmes,
    activity_structures,
)
from crm.platform import signals
from crm.platform.extensions import db
from crm.referential.models import Offer
from crm.structures.models import Structure

AD = activity_departments


def write_for(activity, department_codes: Iterable[str], programme_ids: Iterable[int], *, replace: bool) -> None:
    """The rows of one activity from what the caller holds (no read back); ``replace`` drops the old ones."""
    connection = db.session.connection()
    if replace:
        connection.execute(delete(AD).where(AD.c.activity_id == activity.id))
    rows = [
        {
            "activity_id": activity.id,
            "department_code": code,
            "programme_id": programme,
            "kind": activity.kind,
            "occurred_on": activity.occurred_on,
        }
        for code in sorted({code for code in department_codes if code})
        for programme in [ALL_PROGRAMMES, *sorted(set(programme_ids))]
    ]
    if rows:
        connection.execute(insert(AD), rows)


COLUMNS = ["activity_id", "department_code", "programme_id", "kind", "occurred_on"]


def _derived(activity_ids=None):
    """The rows of the given activities (a select of ids), or of all, from their links."""

    def only(statement, column):
        return statement if activity_ids is None else statement.where(column.in_(activity_ids))

    AST, AP, AO = activity_structures, activity_programmes, activity_offers
    departments = only(
        select(AST.c.activity_id, Structure.department_code)
        .join(Structure, Structure.id == AST.c.structure_id)
        .where(Structure.department_code.is_not(None))
        .distinct(),
        AST.c.activity_id,
    ).subquery()
    programmes = union(
        only(select(AP.c.activity_id.label("activity_id"), AP.c.programme_id.label("programme_id")), AP.c.activity_id),
        only(select(AO.c.activity_id, Offer.programme_id).join(Offer, Offer.id == AO.c.offer_id), AO.c.activity_id),
        only(select(Activity.id, literal(ALL_PROGRAMMES)), Activity.id),
    ).subquery()
    return (
        select(
            Activity.id, departments.c.department_code, programmes.c.programme_id, Activity.kind, Activity.occurred_on
        )
        .join(departments, departments.c.activity_id == Activity.id)
        .join(programmes, programmes.c.activity_id == Activity.id)
    )


def rederive(activity_ids) -> None:
    """Re-derive the rows of ``activity_ids`` (a list, or a select of ids) from their links."""
    connection = db.session.connection()
    connection.execute(delete(AD).where(AD.c.activity_id.in_(activity_ids)))
    connection.execute(insert(AD).from_select(COLUMNS, _derived(activity_ids)))


def rebuild_all() -> None:
    """Every row again, from the links."""
    connection = db.session.connection()
    connection.execute(delete(AD))
    connection.execute(insert(AD).from_select(COLUMNS, _derived()))


def follow_department(_sender, *, structure_ids: list[int]) -> None:
    """Structures changed department: their activities' rows follow, in the same transaction."""
    if structure_ids:
        rederive(select(activity_structures.c.activity_id).where(activity_structures.c.structure_id.in_(structure_ids)))


def connect() -> None:
    """Subscribe to the structures' signal (idempotent: blinker keeps one connection per receiver)."""
    signals.structure_department_changed.connect(follow_department)
