"""The active usage rate in the read model: per offer, department and month, the eligible open structures of the
department with usage above zero in the period of ``PERIOD_MONTHS`` months ending with that month
(``ind_usage_cells``).

* A cell is stored only where the count is above zero; a window with no cell counts none. So a window that ends
  after the offer's last figures (up to ``PERIOD_MONTHS - 1`` months after) has its cell like any other, and one
  that ends later needs none: no figure falls in it.
* Eligibility is the offer's population (:func:`crm.deployment.services.population`) as it stands now, as for the
  deployment cells beside them: the numerator is a subset of the deployment cell's ``eligible``.

Kept like the deployment cells, by recomputing *scopes* (an offer, some departments or all, some window ends or
all) from the records with one set-based query each:

* ``usage.imported`` (an import, the API's push, the seed): the offer, the departments of the structures it
  wrote (all of them when the import is large: looking them up would cost more than counting), the windows
  that contain one of its months;
* an eligibility override: the offer and the structure's department, every month;
* an offer's eligibility rule: the whole offer;
* a structure that moved, opened, closed, changed sector or category, or was deleted: its departments before
  and after, every offer, every month (one created has no figures yet; a change of its name, address... none).

The rebuild derives every cell with the same query, so ``crm indicators check`` compares like with like.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import (
    Date,
    Integer,
    String,
    and_,
    cast,
    delete,
    distinct,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Mapped, mapped_column

from crm.deployment.models import UsageFigure
from crm.deployment.services import population
from crm.indicators.readmodel.deployment import eligibility_changed, population_fields_changed
from crm.platform.extensions import db
from crm.platform.sql import among
from crm.referential.models import Offer
from crm.structures.models import Structure

PERIOD_MONTHS = 3  # the active usage rate's period: this many months, ending with the month shown
ALL = None  # every offer, every department or every month
# An import writing more structures than this recomputes its months in every department: looking the
# departments up (a national import lists 100,000 structures) costs more than counting them all.
MANY_STRUCTURES = 5000


class UsageCell(db.Model):
    """Cell: an offer's eligible open structures of a department with usage above zero in the period ending
    with ``month`` (its first day)."""

    __tablename__ = "ind_usage_cells"

    offer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_code: Mapped[str] = mapped_column(String(3), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    active: Mapped[int] = mapped_column(Integer)


COLUMNS = ("offer_id", "department_code", "month", "active")


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def window_ends(months) -> set[date]:
    """The months whose period contains one of ``months``: each of them and the ``PERIOD_MONTHS - 1`` after."""
    return {add_months(month, shift) for month in months for shift in range(PERIOD_MONTHS)}


def _shifted(column, shift, dialect: str):
    """``column`` (a month's first day) plus ``shift`` months, in SQL; literals only (the query groups by it)."""
    if dialect == "postgresql":
        return cast(column + shift * literal_column("interval '1 month'"), Date)
    return func.date(column, func.printf(literal_column("'+%d months'"), shift), type_=Date)


def cells_query(
    offer: Offer,
    departments: set[str] | None = None,
    months: set[date] | None = None,
    structure_ids: list[int] | None = None,
):
    """One offer's cells, from the records: per department and window end, the distinct eligible structures with
    a figure above zero in the window; ``departments``, ``months``: only those cells.

    ``structure_ids``: the eligible structures of ``departments``, when the caller has them. The cells are the
    same (the condition is implied), but PostgreSQL then reads their figures structure by structure through
    the (structure, offer, month) index: counting on the departments alone, it read every figure of the offer
    (600,000 at national scale, 0.8 s) to keep those of two departments' 2,000 structures."""
    dialect = db.session.get_bind().dialect.name
    shifts = union_all(*[select(literal_column(str(shift)).label("shift")) for shift in range(PERIOD_MONTHS)]).subquery(
        "shifts"
    )
    end = _shifted(UsageFigure.month, shifts.c.shift, dialect)
    query = (
        select(
            literal(offer.id).label("offer_id"),
            Structure.department_code,
            end.label("month"),
            func.count(distinct(UsageFigure.structure_id)).label("active"),
        )
        .select_from(UsageFigure)
        .join(Structure, Structure.id == UsageFigure.structure_id)
        .join(shifts, true())
        .where(UsageFigure.offer_id == offer.id, UsageFigure.value > 0, population(offer).condition())
        .group_by(Structure.department_code, end)
    )
    if departments is not None:
        query = query.where(Structure.department_code.in_(sorted(departments)))
    if structure_ids is not None:
        query = query.where(among(UsageFigure.structure_id, structure_ids))
    if months is not None:
        # The figures' months first (the (offer, month) index reads that range), then the windows themselves.
        query = query.where(
            UsageFigure.month.between(add_months(min(months), 1 - PERIOD_MONTHS), max(months)),
            end.in_(sorted(months)),
        )
    return query


def _offers(offer_ids: set[int] | None) -> list[Offer]:
    query = select(Offer).where(Offer.active.is_(True))
    if offer_ids is not None:
        query = query.where(Offer.id.in_(sorted(offer_ids)))
    return list(db.session.scalars(query.order_by(Offer.id)))


# A scope: (offer id or ALL, frozenset of departments or ALL, frozenset of window ends or ALL).


def recompute(scopes: set[tuple]) -> None:
    """Recompute the cells of ``scopes`` from the records (delete, then insert what the query derives)."""
    if not scopes:
        return
    if (ALL, ALL, ALL) in scopes:
        rebuild()
        return
    offer_ids = {offer for offer, _, _ in scopes}
    offers = _offers(None if ALL in offer_ids else offer_ids)
    table = UsageCell.__table__
    for offer in offers:
        # Merged per set of months: the departments of every scope with the same months, one statement each.
        by_months: dict[frozenset | None, set | None] = {}
        for offer_id, departments, months in scopes:
            if offer_id is not ALL and offer_id != offer.id:
                continue
            if months in by_months and by_months[months] is ALL:
                continue
            by_months[months] = ALL if departments is ALL else (by_months.get(months) or set()) | departments
        if by_months.get(ALL, ()) is ALL:  # the whole offer
            by_months = {ALL: ALL}
        # min(): one step down the (offer, month) index (a LIMIT 1 made PostgreSQL scan the table for an offer
        # without figures, a second at national scale).
        has_figures = db.session.scalar(select(func.min(UsageFigure.month)).where(UsageFigure.offer_id == offer.id))
        for months, departments in sorted(by_months.items(), key=lambda item: (item[0] is not ALL, str(item[0]))):
            statement = delete(table).where(table.c.offer_id == offer.id)
            if departments is not ALL:
                statement = statement.where(table.c.department_code.in_(sorted(departments)))
            if months is not ALL:
                statement = statement.where(table.c.month.in_(sorted(months)))
            db.session.execute(statement)
            if has_figures is None:  # most offers: no figures, no cells
                continue
            structure_ids = None
            if departments is not ALL:
                structure_ids = _eligible_structures(offer, departments)
                if structure_ids == []:  # no eligible structure there: no cell
                    continue
            query = cells_query(offer, departments, months, structure_ids)
            db.session.execute(insert(table).from_select(list(COLUMNS), query))
    # An offer no longer active keeps no cells.
    inactive = select(Offer.id).where(Offer.active.is_(False))
    db.session.execute(delete(table).where(table.c.offer_id.in_(inactive)))


def _eligible_structures(offer: Offer, departments: set[str]) -> list[int] | None:
    """The eligible structures of these departments, for :func:`cells_query`; None when they are too many to
    read one by one (then the offer's figures are read whole)."""
    ids = list(
        db.session.scalars(
            select(Structure.id)
            .where(Structure.department_code.in_(sorted(departments)), population(offer).condition())
            .limit(MANY_STRUCTURES * 4 + 1)
        )
    )
    return None if len(ids) > MANY_STRUCTURES * 4 else ids


def rebuild() -> None:
    """Every cell, from the records (the rebuild's step; also what ``check`` compares against)."""
    table = UsageCell.__table__
    db.session.execute(delete(table))
    for offer in _offers(None):
        db.session.execute(insert(table).from_select(list(COLUMNS), cells_query(offer)))


def _month(raw) -> date | None:
    try:
        year, month = str(raw)[:7].split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        return None


def _departments_of(structure_ids: list[int]):
    if len(structure_ids) > MANY_STRUCTURES:
        return ALL
    if not structure_ids:
        return frozenset()
    return frozenset(
        db.session.scalars(select(distinct(Structure.department_code)).where(Structure.id.in_(structure_ids)))
    )


def scopes_of_event(event, structure_departments: dict[int, set[str]]) -> set[tuple]:
    """The cells an event may change; ``structure_departments``: a structure's departments before and after."""
    payload = event.payload or {}
    kind = event.aggregate_type
    if kind == "offer_usage":
        months = {_month(raw) for raw in payload.get("months") or ()} - {None}
        if not months or payload.get("offer_id") is None:
            return set()
        # Without the structures' list (an import may leave it out when it is huge): every department.
        listed = payload.get("structure_ids")
        departments = ALL if listed is None else _departments_of([int(s) for s in listed])
        if departments is not ALL and not departments:
            return set()
        return {(payload["offer_id"], departments, frozenset(window_ends(months)))}
    if kind == "eligibility_override" and payload.get("department"):
        return {(payload.get("offer_id"), frozenset({payload["department"]}), ALL)}
    if kind == "offer_deployment_settings" and eligibility_changed(payload):
        return {(payload.get("offer_id"), ALL, ALL)}
    if kind == "structure" and event.aggregate_id is not None and population_fields_changed(event):
        if event.type == "structure.created":  # no figure yet
            return set()
        departments = structure_departments.get(event.aggregate_id, set())
        return {(ALL, frozenset(departments), ALL)} if departments else set()
    return set()


def active_counts(ends: dict[int, date], departments: list[str]) -> dict[tuple[int, str], int]:
    """The stored counts of each offer's window (offer id -> the window's last month), per (offer, department)
    (a department without a cell: none active). One statement, a primary-key range per offer."""
    if not ends:
        return {}
    windows = or_(*(and_(UsageCell.offer_id == offer_id, UsageCell.month == month) for offer_id, month in ends.items()))
    return {
        (offer_id, department): active
        for offer_id, department, active in db.session.execute(
            select(UsageCell.offer_id, UsageCell.department_code, UsageCell.active).where(
                windows, UsageCell.department_code.in_(departments)
            )
        )
    }
