"""Light stand-ins for the ORM objects, so the seed builds its events with the services' own payload
functions (``activity_payload``, ``opportunity_payload``, ``project_payload``, ``task_payload``):
the seeded history carries exactly what a real change would, without loading millions of objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from crm.activities.models import Activity
from crm.activities.services import activity_payload
from crm.pipeline.services import opportunity_payload, project_payload
from crm.platform.event_types import require_known
from crm.platform.models import AuditEntry, OutboxEvent
from crm.seed.loader import Loader
from crm.tasks.services import task_payload

__all__ = [
    "ActivityRef",
    "OfferRef",
    "OpportunityRef",
    "ProgrammeRef",
    "ProjectRef",
    "SectorRef",
    "StructureRef",
    "TaskRef",
    "Journal",
    "activity_payload",
    "opportunity_payload",
    "project_payload",
    "task_payload",
]

# Seeded history is written processed: its effects are in the records already (the seed ends with an
# indicator rebuild), and no workflow rule must act on it (no email to 2024's registrants).
OUTBOX_COLUMNS = (
    "type",
    "aggregate_type",
    "aggregate_id",
    "payload",
    "actor_id",
    "created_at",
    "attempts",
    "processed_at",
)
AUDIT_COLUMNS = ("at", "user_id", "origin", "entity_type", "entity_id", "action", "changes")


@dataclass(slots=True, frozen=True)
class SectorRef:
    code: str


@dataclass(slots=True, frozen=True)
class OfferRef:
    id: int
    code: str
    programme_id: int
    short: str  # how a subject or a title names it: "ViaTrajectoire grand âge"


@dataclass(slots=True, frozen=True)
class ProgrammeRef:
    id: int
    code: str
    label: str


@dataclass(slots=True, eq=False)
class StructureRef:
    """What the seed knows of a structure; ``department_code`` and ``sector`` are what payloads read."""

    id: int
    name: str
    department_code: str
    sector: SectorRef | None
    category: str | None
    is_open: bool
    contact_ids: tuple[int, ...] = ()


@dataclass(slots=True, eq=False)
class ActivityRef:
    id: int
    kind: str
    occurred_on: date
    is_information: bool
    author_id: int | None
    structures: list[StructureRef]
    offers: list[OfferRef]
    programmes: list[ProgrammeRef] = field(default_factory=list)

    all_programme_ids = Activity.all_programme_ids


class _AtStructureForOffer:
    """What an opportunity and a project derive from their structure and offer, as the models do."""

    __slots__ = ()

    @property
    def structure_id(self) -> int:
        return self.structure.id

    @property
    def offer_id(self) -> int:
        return self.offer.id

    @property
    def programme_id(self) -> int:
        return self.offer.programme_id

    @property
    def department_code(self) -> str:
        return self.structure.department_code


@dataclass(slots=True, eq=False)
class OpportunityRef(_AtStructureForOffer):
    id: int
    structure: StructureRef
    offer: OfferRef
    owner_id: int | None
    source: str
    identified_on: date
    stage: str = "identifiee"
    loss_reason_id: int | None = None


@dataclass(slots=True, eq=False)
class ProjectRef(_AtStructureForOffer):
    id: int
    structure: StructureRef
    offer: OfferRef
    opportunity_id: int | None
    owner_id: int | None
    started_on: date
    status: str = "en_cours"
    ended_on: date | None = None


@dataclass(slots=True, eq=False)
class TaskRef:
    id: int
    owner_id: int
    structure: StructureRef | None
    due_on: date | None
    source: str
    opportunity_id: int | None = None
    project_id: int | None = None
    activity_id: int | None = None
    done_at: datetime | None = None
    done_by_id: int | None = None
    event_id: int | None = None

    @property
    def structure_id(self) -> int | None:
        return self.structure.id if self.structure else None


class Journal:
    """The outbox events of the seeded history and, unless ``with_audit`` is off, their audit entries:
    what ``record_change`` adds for one change, collected and written in bulk."""

    def __init__(self, loader: Loader, with_audit: bool = True):
        self.loader, self.with_audit = loader, with_audit
        self.events: list[tuple] = []
        self.audits: list[tuple] = []
        self.event_count = self.audit_count = 0

    def record(
        self,
        *,
        entity_type: str,
        entity_id: int,
        action: str,
        changes: dict | None,
        event_type: str,
        payload: dict,
        user_id: int | None,
        at: datetime,
    ) -> None:
        require_known(event_type)
        # Dated when the change happened; JSON dates become ISO 8601 text when written.
        self.events.append((event_type, entity_type, entity_id, payload, user_id, at, 0, at))
        if self.with_audit:
            self.audits.append((at, user_id, "seed", entity_type, entity_id, action, changes))

    def flush(self) -> None:
        self.loader.write(OutboxEvent.__table__, OUTBOX_COLUMNS, self.events)
        self.loader.write(AuditEntry.__table__, AUDIT_COLUMNS, self.audits)
        self.event_count += len(self.events)
        self.audit_count += len(self.audits)
        self.events, self.audits = [], []
