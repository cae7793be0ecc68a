"""The kinds of reference data an admin edits on the reference pages (crm/admin/reference_routes.py).

Referential declares its own kinds here. A domain above it that owns an editable list (the
pipeline's loss reasons, the events' types) registers its kind beside its model with ``register``,
so the reference pages edit it without importing it; ``load_reference_data`` seeds its rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from crm.platform.extensions import db
from crm.referential.models import Category, FinessCategoryMapping, Offer, Programme, Sector


@dataclass
class Seed:
    """Rows a kind takes from reference.json: ``make(position, item)`` gives a row's values, and a row
    whose ``unique`` value is already there is left as the admin edited it."""

    data_key: str
    unique: str
    make: Callable[[int, object], dict]


@dataclass
class Kind:
    model: type
    title: str
    key: str  # primary key attribute
    fields: list[tuple] = field(default_factory=list)  # (name, label, type, extra)
    order: tuple = ()
    position: int = 0  # its rank on the reference index page
    seed: Seed | None = None


def options(model, label_attr="label"):
    return lambda: (
        [("", "—")]
        + [
            (str(o.id), getattr(o, label_attr))
            for o in db.session.scalars(select(model).order_by(getattr(model, label_attr)))
        ]
    )


_KINDS: dict[str, Kind] = {
    "secteurs": Kind(
        Sector,
        "Secteurs",
        "id",
        [
            ("code", "Code", "code", None),
            ("label", "Libellé", "text", None),
            ("is_es_esms", "Compté comme ES / ESMS dans les indicateurs", "bool", None),
            ("position", "Ordre d'affichage", "int", None),
        ],
        (Sector.position,),
        position=10,
    ),
    "categories": Kind(
        Category,
        "Catégories",
        "id",
        [
            ("code", "Code", "code", None),
            ("label", "Libellé", "text", None),
            ("sector_id", "Secteur", "select", options(Sector)),
        ],
        (Category.label,),
        position=20,
    ),
    "programmes": Kind(
        Programme,
        "Programmes CPOM",
        "id",
        [
            ("number", "Numéro", "int", None),
            ("code", "Code", "code", None),
            ("label", "Libellé", "text", None),
            ("target_sectors", "Secteurs de la population cible (codes séparés par des virgules)", "optional", None),
            ("active", "Actif", "bool", None),
        ],
        (Programme.number,),
        position=30,
    ),
    "offres": Kind(
        Offer,
        "Offres de services",
        "id",
        [
            ("code", "Code", "code", None),
            ("label", "Libellé", "text", None),
            ("programme_id", "Programme", "select", options(Programme)),
            ("active", "Active", "bool", None),
        ],
        (Offer.label,),
        position=40,
    ),
    "finess": Kind(
        FinessCategoryMapping,
        "Correspondance des catégories FINESS",
        "finess_code",
        [
            ("finess_code", "Code catégorie FINESS", "code", None),
            ("finess_label", "Libellé FINESS", "text", None),
            ("category_id", "Catégorie", "select", options(Category)),
        ],
        (FinessCategoryMapping.finess_code,),
        position=50,
    ),
}


def register(name: str, kind: Kind) -> None:
    """Add a kind of a domain above referential (its URL segment is ``name``)."""
    _KINDS[name] = kind


def kinds() -> dict[str, Kind]:
    """Every editable kind, in the index page's order."""
    return dict(sorted(_KINDS.items(), key=lambda item: item[1].position))
