"""Targeting: the eligible open structures of an offer that are not equipped yet (no status, or one below
"déployé"), per department, to choose whom to visit.

Size: the structures carry no capacity, so a structure's size is read as its number of contacts in the CRM
(the people the team knows there). Last visit: the latest activity of kind "visite" with the structure.
Partners already equipped: the number of structures linked to it that use the offer. The links live in a
higher floor (crm/networks), so the caller passes their count as a subquery (``partners``); without it the
column and its sort are absent.

At national scale the last visits are read for the page's rows only, unless the list is sorted by them.
"""

from __future__ import annotations

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
    "partenaires": "Partenaires déjà équipés",
    "nom": "Nom",
}
LIMIT = 500


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
    """(structure_id, last): the latest visit of each structure."""
    return (
        select(activity_structures.c.structure_id, func.max(Activity.occurred_on).label("last"))
        .join(Activity, Activity.id == activity_structures.c.activity_id)
        .where(Activity.kind == "visite")
        .group_by(activity_structures.c.structure_id)
    )


def targets(
    offer: Offer,
    department: str | None = None,
    sort: str = "taille",
    limit: int | None = LIMIT,
    partners: Subquery | None = None,
):
    """(rows, total): the eligible open structures not equipped with ``offer``, sorted by ``sort``.

    ``partners``: a subquery (structure_id, n) of each structure's partners that use the offer."""
    contacts = (
        select(Contact.structure_id, func.count().label("n"))
        .where(Contact.erased_at.is_(None))
        .group_by(Contact.structure_id)
        .subquery()
    )
    deployment = (
        select(StructureDeployment.structure_id, StructureDeployment.status)
        .where(StructureDeployment.offer_id == offer.id)
        .subquery()
    )
    condition = [population(offer).condition(), not_equipped_condition(offer)]
    if department:
        condition.append(Structure.department_code == department)
    total = db.session.scalar(select(func.count()).select_from(Structure).where(*condition)) or 0
    size = func.coalesce(contacts.c.n, 0)
    columns = [
        Structure.id,
        Structure.name,
        Structure.commune,
        Structure.department_code,
        Structure.finess_et,
        Structure.category_id,
        deployment.c.status,
        size.label("contacts"),
    ]
    query = (
        select(*columns)
        .outerjoin(contacts, contacts.c.structure_id == Structure.id)
        .outerjoin(deployment, deployment.c.structure_id == Structure.id)
        .where(*condition)
    )
    # Whole lists (exports) and the sort by last visit read every visit in one aggregate; a page reads
    # only its own rows' visits afterwards.
    visits_in_query = sort == "visite" or not limit
    if visits_in_query:
        visits = _visits().subquery()
        query = query.add_columns(visits.c.last).outerjoin(visits, visits.c.structure_id == Structure.id)
    if partners is not None:
        equipped = func.coalesce(partners.c.n, 0)
        query = query.add_columns(equipped.label("partners")).outerjoin(
            partners, partners.c.structure_id == Structure.id
        )
    if sort == "partenaires" and partners is not None:
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
    if visits_in_query:
        last_visits = {r.id: r.last for r in found}
    else:
        last_visits = {}
        ids = [r.id for r in found]
        if ids:
            last_visits = dict(db.session.execute(_visits().where(activity_structures.c.structure_id.in_(ids))).all())
    categories = dict(db.session.execute(select(Category.id, Category.label)).all())
    labels = status_labels()
    rows = [
        Target(
            r.id,
            r.name,
            r.commune,
            r.department_code,
            r.finess_et,
            categories.get(r.category_id),
            r.status,
            labels.get(r.status, DEFAULT_LABELS.get(r.status or "", "")) if r.status else "Non renseigné",
            r.contacts,
            last_visits.get(r.id),
            r.partners if partners is not None else None,
        )
        for r in found
    ]
    return rows, total


def visit_list(offer: Offer, department: str | None, sort: str, partners: Subquery | None = None) -> ExportTable:
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
