"""The participants of an event as an export table (CSV or XLSX through crm.platform.exports)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from crm.events.models import REGISTRATION_SOURCES, REGISTRATION_STATUSES, Event, Registration
from crm.platform.exports import ExportTable
from crm.platform.extensions import db
from crm.platform.formatting import format_datetime
from crm.platform.models import utcnow
from crm.structures.models import Structure

HEADER = [
    "Nom",
    "Prénom",
    "E-mail",
    "Fonction",
    "Structure",
    "FINESS",
    "Département",
    "Secteur",
    "Statut",
    "Source",
    "Inscription",
    "Arrivée",
    "Contact connu",
    "Accepte d'être recontacté",
]


def participants_table(event: Event, status: str | None = None) -> ExportTable:
    """Every registration of the event (or those of one status), by name."""
    query = (
        select(Registration)
        .where(Registration.event_id == event.id)
        .options(joinedload(Registration.structure).joinedload(Structure.sector))
        .order_by(Registration.last_name, Registration.first_name, Registration.id)
    )
    if status:
        query = query.where(Registration.status == status)
    rows = []
    for r in db.session.scalars(query).unique():
        structure = r.structure
        rows.append(
            [
                r.last_name,
                r.first_name,
                r.email,
                r.function,
                r.structure_label,
                structure.finess_et if structure else None,
                structure.department_code if structure else r.department_code,
                structure.sector.label if structure and structure.sector else None,
                REGISTRATION_STATUSES.get(r.status, r.status),
                REGISTRATION_SOURCES.get(r.source, r.source),
                r.registered_at,
                r.attended_at,
                r.contact_id is not None,
                r.consent_contact,
            ]
        )
    context = [
        ("Événement", event.title),
        ("Date", format_datetime(event.starts_at)),
        ("Lieu", ", ".join(p for p in (event.place_name, event.department_code) if p) or "En ligne"),
    ]
    if status:
        context.append(("Statut", REGISTRATION_STATUSES.get(status, status)))
    context.append(("Exporté le", format_datetime(utcnow())))
    return ExportTable(title=f"Participants – {event.title}", header=HEADER, rows=rows, context=context)
