"""A structure's change history (its own and its contacts'): the structures' words for the one renderer,
crm.platform.history."""

from __future__ import annotations

from sqlalchemy import and_, or_, select

from crm.platform.extensions import db
from crm.platform.history import HistoryLine, Subject, Vocabulary, history_lines
from crm.platform.models import AuditEntry
from crm.referential.models import Category, Sector

FIELD_LABELS = {
    "name": "Nom",
    "long_name": "Raison sociale",
    "finess_et": "FINESS ET",
    "finess_ej": "FINESS EJ",
    "siret": "SIRET",
    "sector_id": "Secteur",
    "category_id": "Catégorie",
    "finess_category_code": "Catégorie FINESS",
    "address": "Adresse",
    "postal_code": "Code postal",
    "commune": "Commune",
    "commune_code": "Code commune",
    "department_code": "Département",
    "phone": "Téléphone",
    "email": "E-mail",
    "website": "Site web",
    "is_open": "Ouverte",
    "notes": "Notes",
    "opened_on": "Ouverture",
    "closed_on": "Fermeture",
    "finess_updated_on": "Mise à jour FINESS",
    "latitude": "Latitude",
    "longitude": "Longitude",
    "source": "Source",
    "civility": "Civilité",
    "first_name": "Prénom",
    "last_name": "Nom",
    "function": "Fonction",
    "consent": "Consentement",
    "nom": "Contact",
}
SUBJECTS = {
    "structure": Subject("", feminine=True),  # the page's own record: "Créée par …"
    "contact": Subject("contact"),
}
# What a creation's line names first: what people recognise a structure (or a contact) by.
SUMMARY_FIRST = (
    "name",
    "category_id",
    "sector_id",
    "commune",
    "department_code",
    "finess_et",
    "first_name",
    "last_name",
    "function",
)
# Derived from the address: an edit of the address says it already.
HIDDEN = frozenset({"commune_code", "latitude", "longitude"})


def structure_history(structure_id: int, limit: int = 50) -> list[HistoryLine]:
    """The structure's audit entries and its contacts', newest first, as history lines."""
    entries = db.session.scalars(
        select(AuditEntry)
        .where(
            or_(
                and_(AuditEntry.entity_type == "structure", AuditEntry.entity_id == structure_id),
                and_(AuditEntry.parent_type == "structure", AuditEntry.parent_id == structure_id),
            )
        )
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
    ).all()
    words = Vocabulary(
        subjects=SUBJECTS,
        labels=FIELD_LABELS,
        names={
            "category_id": dict(db.session.execute(select(Category.id, Category.label)).all()),
            "sector_id": dict(db.session.execute(select(Sector.id, Sector.label)).all()),
        },
        summary_first=SUMMARY_FIRST,
        hidden=HIDDEN,
    )
    return history_lines(entries, words)
