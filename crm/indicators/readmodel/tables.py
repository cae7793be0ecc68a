"""What the read model's modules share: its tables, the maintenance lock, and how a derivation is inserted."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import insert

from crm.indicators.readmodel import models as m
from crm.indicators.readmodel.deployment import DeploymentCell
from crm.indicators.readmodel.usage import UsageCell
from crm.platform.extensions import db
from crm.platform.locking import INDICATOR_MAINTENANCE, advisory_lock, advisory_lock_shared

CHUNK = 5000  # ids per statement: keeps IN lists within every driver's limits

FACT_AND_CELL_TABLES = (
    m.ParticipationSource,
    m.ParticipationDay,
    m.ParticipationCell,
    m.OpportunityFact,
    m.OpportunityCell,
    m.ProjectFact,
    m.Engagement,
    m.StructureFact,
    m.OfferPresentation,
    m.EventOfferPresentation,
    m.OfferPresentationCell,
    m.EventFact,
    DeploymentCell,  # the services' deployment (issue 14)
    UsageCell,  # the services' active usage (issue 14)
)


def dialect_name() -> str:
    return db.session.get_bind().dialect.name


def lock(shared: bool = False) -> None:
    """Serialise the maintenance of concurrent workers (PostgreSQL; SQLite has one writer anyway), so that
    two batches touching the same structure cannot interleave their delete/insert.

    ``shared``: a batch of activity events only, which locks the activities and structures it touches
    (``upkeep``) and runs beside other such batches; the rebuild, the check and every other batch exclude
    them all."""
    if shared:
        advisory_lock_shared(INDICATOR_MAINTENANCE)
    else:
        advisory_lock(INDICATOR_MAINTENANCE, on_sqlite=False)


def chunks(values: Iterable, size: int = CHUNK):
    values = sorted(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


def insert_derived(model, columns, query) -> None:
    """Insert the rows a derivation (``INSERT ... SELECT``) gives into ``model``'s table."""
    db.session.execute(insert(model.__table__).from_select(list(columns), query))
