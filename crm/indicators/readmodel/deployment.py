"""The deployment indicators in the read model: per offer and department, the eligible open structures and
those of them at or beyond "déployé" (``ind_deployment_cells``).

Kept like the other cells: the outbox consumer recomputes the (offer, department) cells a batch touched
(a status, an eligibility override, an offer's rule, a structure that moved, opened, closed or changed sector)
from the records; the rebuild derives them all with the same query, so ``crm indicators check`` compares
like with like. The active usage rate's cells (:mod:`.usage`) count, among these eligible structures, those with
usage in a period.
"""

from __future__ import annotations

from sqlalchemy import Integer, String, case, delete, func, insert, literal, select
from sqlalchemy.orm import Mapped, mapped_column

from crm.deployment.models import RANKS, StructureDeployment
from crm.deployment.services import population
from crm.platform.extensions import db
from crm.referential.models import Offer
from crm.structures.models import Structure

DEPLOYED_STATUSES = tuple(code for code, rank in RANKS.items() if rank >= RANKS["deploye"])
ALL = None  # every offer, or every department
# The settings an offer's population depends on; the metric and the CSV's column mapping change no cell.
ELIGIBILITY_SETTINGS = frozenset({"eligible_sectors", "eligible_categories"})
# A structure's fields the cells depend on (its place in an offer's population, its department): an update of
# its name, address or FINESS dates (most of a FINESS import's) changes no cell.
POPULATION_FIELDS = frozenset({"department_code", "is_open", "sector_id", "category_id"})


class DeploymentCell(db.Model):
    """Cell: an offer's eligible open structures in a department, and how many are deployed (or beyond)."""

    __tablename__ = "ind_deployment_cells"

    offer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_code: Mapped[str] = mapped_column(String(3), primary_key=True)
    eligible: Mapped[int] = mapped_column(Integer)
    deployed: Mapped[int] = mapped_column(Integer)


COLUMNS = ("offer_id", "department_code", "eligible", "deployed")


def cells_query(offer: Offer, departments: set[str] | None = None):
    """One offer's cells, from the records: eligible structures per department and the deployed among them."""
    deployment = StructureDeployment.__table__
    deployed = case((deployment.c.status.in_(DEPLOYED_STATUSES), 1), else_=0)
    query = (
        select(
            literal(offer.id).label("offer_id"),
            Structure.department_code,
            func.count().label("eligible"),
            func.coalesce(func.sum(deployed), 0).label("deployed"),
        )
        .select_from(Structure)
        .outerjoin(deployment, (deployment.c.structure_id == Structure.id) & (deployment.c.offer_id == offer.id))
        .where(population(offer).condition())
        .group_by(Structure.department_code)
    )
    if departments is not None:
        query = query.where(Structure.department_code.in_(sorted(departments)))
    return query


def _offers(offer_ids: set[int] | None) -> list[Offer]:
    query = select(Offer).where(Offer.active.is_(True))
    if offer_ids is not None:
        query = query.where(Offer.id.in_(sorted(offer_ids)))
    return list(db.session.scalars(query.order_by(Offer.id)))


def recompute(keys: set[tuple[int | None, str | None]]) -> None:
    """Recompute the cells of ``keys``: (offer id or None for every offer, department or None for every one)."""
    if not keys:
        return
    table = DeploymentCell.__table__
    whole_offers = {offer for offer, department in keys if department is ALL and offer is not ALL}
    every_offer_departments = {department for offer, department in keys if offer is ALL and department is not ALL}
    if (ALL, ALL) in keys:
        rebuild()
        return
    per_offer: dict[int, set[str]] = {}
    for offer, department in keys:
        if offer is not ALL and department is not ALL and offer not in whole_offers:
            per_offer.setdefault(offer, set()).add(department)
    for offer in _offers(None if every_offer_departments else set(per_offer) | whole_offers):
        if offer.id in whole_offers:
            departments = None
        else:
            departments = per_offer.get(offer.id, set()) | every_offer_departments
            if not departments:
                continue
        statement = delete(table).where(table.c.offer_id == offer.id)
        if departments is not None:
            statement = statement.where(table.c.department_code.in_(sorted(departments)))
        db.session.execute(statement)
        db.session.execute(insert(table).from_select(list(COLUMNS), cells_query(offer, departments)))
    # An offer no longer active keeps no cells.
    inactive = select(Offer.id).where(Offer.active.is_(False))
    db.session.execute(delete(table).where(table.c.offer_id.in_(inactive)))


def rebuild() -> None:
    """Every cell, from the records (the rebuild's step; also what ``check`` compares against)."""
    table = DeploymentCell.__table__
    db.session.execute(delete(table))
    for offer in _offers(None):
        db.session.execute(insert(table).from_select(list(COLUMNS), cells_query(offer)))


def eligibility_changed(payload: dict) -> bool:
    """An offer's settings event changed its population (an event that does not say what changed: yes)."""
    changed = payload.get("changed")
    return changed is None or bool(ELIGIBILITY_SETTINGS & set(changed))


def population_fields_changed(event) -> bool:
    """A structure's event may move it in or out of a cell (an event that does not say what changed: yes)."""
    changed = (event.payload or {}).get("changed")
    return changed is None or bool(POPULATION_FIELDS & set(changed))


def keys_of_event(event, structure_departments: dict[int, set[str]]) -> set[tuple[int | None, str | None]]:
    """The cells an event may change; ``structure_departments``: a structure's departments before and after."""
    payload = event.payload or {}
    kind = event.aggregate_type
    if kind in ("structure_deployment", "eligibility_override"):
        return {(payload.get("offer_id"), payload.get("department"))}
    if kind == "offer_deployment_settings" and eligibility_changed(payload):
        return {(payload.get("offer_id"), ALL)}
    if kind == "structure" and event.aggregate_id is not None and population_fields_changed(event):
        return {(ALL, department) for department in structure_departments.get(event.aggregate_id, set())}
    return set()
