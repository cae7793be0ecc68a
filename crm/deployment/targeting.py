"""Targeting: the eligible open structures of an offer that are not equipped yet (no status, or one below
"déployé"), per department, to choose whom to visit.

Size: the structures carry no capacity, so a structure's size is read as its number of contacts in the CRM
(the people the team knows there). Last visit: the latest activity of kind "visite" with the structure.
Partners already equipped: the number of structures linked to it that use the offer. The links live in a
higher floor (crm/networks), so the caller passes a function giving their count as a subquery
(``partners``); without it the column and its sort are absent.

At national scale a page reads the last visits and the partners of its own rows only, unless it is sorted by
them, and its total in the same statement (a window count).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Subquery, and_, func, nulls_first, select

from crm.activities.models import Activity, activity_structures
from crm.deployment.models import DEFAULT_LABELS, RANKS, StructureDeployment
from crm.deployment.services import population, status_labels
from crm.platform.exports import ExportTable
from crm.platform.extensions import db
from crm.referential.models import Category, Offer
from crm.structures.models import Contact, Structure
from crm.structures.services import ExtraFilter, register_filter

NOT_EQUIPPED = tuple(code for code, rank in RANKS.items() if rank < RANKS["deploye"])
SORTS = {
    "taille": "Taille (contacts)",
    "visite": "Dernière visite (la plus ancienne d'abord)",
    "partenaires": "Partenaires déjà équipés (les plus nombreux d'abord)",
    "nom": "Nom",
}
LIMIT = 200


@dataclass
class Target:
    id: int
    name: str
    commune: str | None
    department_code: str
    finess_et: str | None
    category: str | None
    status: str | None
    status_label: str
    contacts: int
    last_visit: date | None
    partners: int | None = None  # linked structures that use the offer (None: links not read)


def sorts(with_partners: bool) -> dict[str, str]:
    return SORTS if with_partners else {k: v for k, v in SORTS.items() if k != "partenaires"}


def not_equipped_condition(offer: Offer):
    """SQL: the structure has no status for the offer, or one below "déployé"."""
    deployed = (
        select(StructureDeployment.structure_id)
        .where(StructureDeployment.offer_id == offer.id, StructureDeployment.status.not_in(NOT_EQUIPPED))
        .scalar_subquery()
    )
    return Structure.id.not_in(deployed)


def _visits():
    """(structure_id, last): the latest visit of each structure (ix_activities_visits: the visits alone)."""
    return (
        select(activity_structures.c.structure_id, func.max(Activity.occurred_on).label("last"))
        .join(Activity, Activity.id == activity_structures.c.activity_id)
        .where(Activity.kind == "visite")
        .group_by(activity_structures.c.structure_id)
    )


def _last_visit_of(structure_id):
    """SQL scalar: the latest visit of one structure, read through its links (a page's few rows)."""
    return (
        select(func.max(Activity.occurred_on))
        .join(activity_structures, Activity.id == activity_structures.c.activity_id)
        .where(activity_structures.c.structure_id == structure_id, Activity.kind == "visite")
        .scalar_subquery()
    )


def _with_details(query, offer: Offer):
    """``query`` with the columns a row shows: the structure's and its status for the offer."""
    return query.add_columns(
        Structure.name,
        Structure.commune,
        Structure.department_code,
        Structure.finess_et,
        Structure.category_id,
        StructureDeployment.status,
    ).outerjoin(
        StructureDeployment,
        and_(StructureDeployment.structure_id == Structure.id, StructureDeployment.offer_id == offer.id),
    )


PartnersOf = Callable[[list[int] | None], Subquery]


def targets(
    offer: Offer,
    department: str | None = None,
    sort: str = "taille",
    limit: int | None = LIMIT,
    partners: PartnersOf | None = None,
):
    """(rows, total): the eligible open structures not equipped with ``offer``, sorted by ``sort``.

    ``partners(ids)``: a subquery (structure_id, n) of the partners using the offer of the structures ``ids``
    (None: of every structure). A page (``limit``) reads the last visits and partners of its own rows only,
    unless it is sorted by them; a whole list (an export) reads each in one aggregate."""
    contacts = (
        select(Contact.structure_id, func.count().label("n"))
        .where(Contact.erased_at.is_(None))
        .group_by(Contact.structure_id)
        .subquery()
    )
    condition = [population(offer).condition(), not_equipped_condition(offer)]
    if department:
        condition.append(Structure.department_code == department)
    size = func.coalesce(contacts.c.n, 0)
    query = (
        select(Structure.id, size.label("contacts"), func.count().over().label("total"))
        .outerjoin(contacts, contacts.c.structure_id == Structure.id)
        .where(*condition)
    )
    whole = not limit
    if whole:
        query = _with_details(query, offer)
    visits_in_query = sort == "visite" or whole
    if visits_in_query:
        # Only the candidates' visits: a department's few hundred read through their links, the whole
        # country's by one aggregate; the planner chooses.
        candidates = select(Structure.id).where(*condition)
        visits = _visits().where(activity_structures.c.structure_id.in_(candidates)).subquery()
        query = query.add_columns(visits.c.last).outerjoin(visits, visits.c.structure_id == Structure.id)
    partners_in_query = partners is not None and (sort == "partenaires" or whole)
    if partners_in_query:
        every = partners(None)
        equipped = func.coalesce(every.c.n, 0)
        query = query.add_columns(equipped.label("partners")).outerjoin(every, every.c.structure_id == Structure.id)
    if sort == "partenaires" and partners_in_query:
        order = (equipped.desc(), size.desc(), Structure.name)
    elif sort == "visite":
        order = (nulls_first(visits.c.last.asc()), Structure.name)
    elif sort == "nom":
        order = (Structure.name,)
    else:
        order = (size.desc(), Structure.name)
    query = query.order_by(*order, Structure.id)
    if limit:
        query = query.limit(limit)
    found = db.session.execute(query).all()
    total = found[0].total if found else 0
    ids = [r.id for r in found]

    # The rows' own columns: in the same statement for a whole list, for the page's ids otherwise.
    if whole:
        details = {r.id: r for r in found}
    elif ids:
        details = {
            r.id: r for r in db.session.execute(_with_details(select(Structure.id), offer).where(Structure.id.in_(ids)))
        }
    else:
        details = {}
    if visits_in_query:
        last_visits = {r.id: r.last for r in found}
    elif ids:
        page = select(Structure.id, _last_visit_of(Structure.id).label("last")).where(Structure.id.in_(ids))
        last_visits = dict(db.session.execute(page).all())
    else:
        last_visits = {}
    if partners_in_query:
        equipped_of = {r.id: r.partners for r in found}
    elif partners is not None and ids:
        of_page = partners(ids)
        equipped_of = dict(db.session.execute(select(of_page.c.structure_id, of_page.c.n)).all())
    else:
        equipped_of = {}

    categories = dict(db.session.execute(select(Category.id, Category.label)).all())
    labels = status_labels()
    rows = []
    for r in found:
        d = details.get(r.id)
        if d is None:  # deleted between the two statements
            continue
        rows.append(
            Target(
                r.id,
                d.name,
                d.commune,
                d.department_code,
                d.finess_et,
                categories.get(d.category_id),
                d.status,
                labels.get(d.status, DEFAULT_LABELS.get(d.status or "", "")) if d.status else "Non renseigné",
                r.contacts,
                last_visits.get(r.id),
                equipped_of.get(r.id, 0) if partners is not None else None,
            )
        )
    return rows, total


def visit_list(offer: Offer, department: str | None, sort: str, partners: PartnersOf | None = None) -> ExportTable:
    rows, _total = targets(offer, department, sort, limit=None, partners=partners)
    with_partners = partners is not None
    return ExportTable(
        title=f"Structures éligibles non équipées – {offer.label}",
        header=(
            "FINESS",
            "Structure",
            "Commune",
            "Département",
            "Catégorie",
            "Statut",
            "Contacts",
            "Dernière visite",
        )
        + (("Partenaires déjà équipés",) if with_partners else ()),
        rows=[
            (
                t.finess_et or "",
                t.name,
                t.commune or "",
                t.department_code,
                t.category or "",
                t.status_label,
                t.contacts,
                t.last_visit,
            )
            + ((t.partners,) if with_partners else ())
            for t in rows
        ],
        context=[
            ("Offre", offer.label),
            ("Département", department or "tous"),
            ("Tri", sorts(with_partners).get(sort, SORTS["taille"])),
            ("Taille", "nombre de contacts connus dans le CRM (les structures n'ont pas de capacité renseignée)"),
        ],
    )


def _not_equipped_filter(value: str):
    """The structure list's "Non équipées pour…": eligible open structures of the offer, not equipped."""
    offer = db.session.scalar(select(Offer).where(Offer.code == value, Offer.active.is_(True)))
    if offer is None:
        return None
    return and_(population(offer).condition(), not_equipped_condition(offer))


def connect() -> None:
    """Add "Éligibles non équipées pour…" to the structure list's filters (called by create_app)."""
    register_filter(
        ExtraFilter(
            arg="non_equipees",
            label="Éligibles non équipées pour",
            choices=lambda: [
                (o.code, o.label)
                for o in db.session.scalars(select(Offer).where(Offer.active.is_(True)).order_by(Offer.label))
            ],
            clause=_not_equipped_filter,
        )
    )


__all__ = ["SORTS", "connect", "not_equipped_condition", "sorts", "targets", "visit_list"]
