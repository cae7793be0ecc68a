"""The change history of a record, as people read it: French field names, labels instead of ids."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, or_, select

from crm.platform.extensions import db
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
ACTION_LABELS = {
    "create": "Création",
    "update": "Modification",
    "delete": "Suppression",
    "erase": "Effacement RGPD",
    "close": "Fermeture",
}


@dataclass
class Change:
    label: str
    before: str
    after: str


@dataclass
class HistoryEntry:
    entry: AuditEntry
    action: str
    changes: list[Change]


def _format(value, names: dict[int, str]) -> str:
    if value is None or value == "":
        return "∅"
    if isinstance(value, bool):
        return "oui" if value else "non"
    if names and isinstance(value, int):
        return names.get(value, str(value))
    return str(value)


def structure_history(structure_id: int, limit: int = 50) -> list[HistoryEntry]:
    """The structure's audit entries and its contacts', newest first, ready to display."""
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
    lookups = {
        "category_id": dict(db.session.execute(select(Category.id, Category.label)).all()),
        "sector_id": dict(db.session.execute(select(Sector.id, Sector.label)).all()),
    }
    history = []
    for entry in entries:
        changes = [
            Change(
                FIELD_LABELS.get(field, field),
                _format(values[0], lookups.get(field, {})),
                _format(values[1], lookups.get(field, {})),
            )
            for field, values in (entry.changes or {}).items()
            if isinstance(values, (list, tuple)) and len(values) == 2
        ]
        action = ACTION_LABELS.get(entry.action, entry.action)
        if entry.entity_type == "contact":
            action = f"{action} d'un contact"
        history.append(HistoryEntry(entry, action, changes))
    return history
