"""Reading the pipeline: board columns, filtered lists of opportunities and projects, select options.

The board must stay fast for one department at national scale (200,000 opportunities):
the counts come from one grouped query, the cards from one query of ids limited per
column, then one load of those rows with their joined structure, offer and owner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select, union_all
from sqlalchemy.orm import joinedload, lazyload, load_only

from crm.accounts.models import User
from crm.pipeline.models import (
    OPEN_STAGES,
    STAGES,
    LossReason,
    Opportunity,
    Project,
)
from crm.pipeline.services import opportunity_counts_by_stage
from crm.pipeline.stages import transition_error
from crm.platform.dates import local_date, local_today
from crm.platform.extensions import db
from crm.platform.models import utcnow
from crm.platform.paging import Page, keyset_page
from crm.referential.models import Offer, Programme
from crm.structures.models import Structure

# An open column shows its 20 most recently moved cards ("Voir les N autres" lists the rest): 250 cards
# made a national board 133 KB and 7,700 px tall.
CARDS_PER_COLUMN = 20
# Won and lost opportunities are history: their columns show the latest few, "Voir tout" lists the rest.
CLOSED_CARDS_PER_COLUMN = 12
LOST_STAGES = ("perdue", "abandonnee")


@dataclass
class OpportunityFilters:
    """The board's and the list's filters; ``None`` means "any"."""

    department: str | None = None
    programme: int | None = None
    owner: int | None = None
    start: date | None = None  # identified on or after
    end: date | None = None  # identified on or before
    stage: str | None = None  # list view only

    def clauses(self) -> list:
        clauses = []
        if self.department:
            # The denormalised department: each board column is one range of
            # ix_opportunities_department_stage (a sub-select over the department's
            # 2,349 structures cost 40 ms per column at national scale).
            clauses.append(Opportunity.department_code == self.department)
        if self.programme:
            clauses.append(Opportunity.programme_id == self.programme)
        if self.owner:
            clauses.append(Opportunity.owner_id == self.owner)
        if self.start:
            clauses.append(Opportunity.identified_on >= self.start)
        if self.end:
            clauses.append(Opportunity.identified_on <= self.end)
        if self.stage:
            clauses.append(
                Opportunity.stage.in_(LOST_STAGES)
                if self.stage == "perdue_abandonnee"
                else Opportunity.stage == self.stage
            )
        return clauses


@dataclass
class Column:
    key: str
    label: str
    stages: tuple
    count: int = 0
    cards: list = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.key in OPEN_STAGES

    @property
    def hidden_count(self) -> int:
        return self.count - len(self.cards)


COLUMNS = (
    ("identifiee", "Identifiée", ("identifiee",)),
    ("qualifiee", "Qualifiée", ("qualifiee",)),
    ("proposee", "Proposée", ("proposee",)),
    ("gagnee", "Gagnée", ("gagnee",)),
    ("perdue_abandonnee", "Perdue / abandonnée", LOST_STAGES),
)


def column_counts(filters: OpportunityFilters) -> dict[str, int]:
    """Opportunities per board column, over the whole filtered set (not only the cards shown)."""
    by_stage = opportunity_counts_by_stage(filters.clauses())
    return {key: sum(by_stage.get(stage, 0) for stage in stages) for key, _, stages in COLUMNS}


def board(filters: OpportunityFilters, per_column: int = CARDS_PER_COLUMN) -> list[Column]:
    """The board's columns with their counts and their most recently moved cards."""
    counts = column_counts(filters)
    columns = [Column(key, label, stages, counts[key]) for key, label, stages in COLUMNS]
    clauses = filters.clauses()
    newest_first = (Opportunity.stage_changed_at.desc(), Opportunity.id.desc())
    limited = [
        select(Opportunity.id)
        .where(*clauses, Opportunity.stage.in_(c.stages))
        .order_by(*newest_first)
        .limit(per_column if c.is_open else min(per_column, CLOSED_CARDS_PER_COLUMN))
        .subquery()
        for c in columns
        if c.count
    ]
    if not limited:
        return columns
    ids = db.session.scalars(union_all(*[select(sub.c.id) for sub in limited])).all()
    # A card shows the title, the structure's name and department, the offer and the owner's name:
    # only those are loaded (the default joins would bring each structure's sector, category and
    # department with its region, and the programme and loss reason).
    cards = (
        db.session.scalars(
            select(Opportunity)
            .where(Opportunity.id.in_(ids))
            .options(
                lazyload(Opportunity.programme),
                lazyload(Opportunity.loss_reason),
                joinedload(Opportunity.structure).options(
                    load_only(Structure.id, Structure.name, Structure.department_code), lazyload("*")
                ),
                joinedload(Opportunity.owner).options(
                    load_only(User.id, User.first_name, User.last_name, User.email), lazyload("*")
                ),
            )
            .order_by(*newest_first)
        )
        .unique()
        .all()
    )
    by_key = {stage: c for c in columns for stage in c.stages}
    for opportunity in cards:
        by_key[opportunity.stage].cards.append(opportunity)
    return columns


def list_opportunities(
    filters: OpportunityFilters, page: int = 1, per_page: int = 25, cursor: str | None = None
) -> Page:
    """The list, last moved first: numbered pages, then by cursor (crm/platform/paging.py)."""
    return keyset_page(
        select(Opportunity).where(*filters.clauses()),
        order=(Opportunity.stage_changed_at, Opportunity.id),
        kinds=(datetime, int),
        cursor=cursor,
        page=page,
        per_page=per_page,
    )


@dataclass
class ProjectFilters:
    department: str | None = None
    programme: int | None = None
    status: str | None = None
    owner: int | None = None
    structure: int | None = None

    def clauses(self) -> list:
        clauses = []
        if self.department:
            clauses.append(Project.department_code == self.department)
        if self.programme:
            clauses.append(Project.programme_id == self.programme)
        if self.status:
            clauses.append(Project.status == self.status)
        if self.owner:
            clauses.append(Project.owner_id == self.owner)
        if self.structure:
            clauses.append(Project.structure_id == self.structure)
        return clauses


def list_projects(filters: ProjectFilters, page: int = 1, per_page: int = 25, cursor: str | None = None) -> Page:
    """The list, last started first: numbered pages, then by cursor (crm/platform/paging.py)."""
    return keyset_page(
        select(Project).where(*filters.clauses()),
        order=(Project.started_on, Project.id),
        kinds=(date, int),
        cursor=cursor,
        page=page,
        per_page=per_page,
    )


def move_targets(stage: str) -> list[str]:
    """Stages an opportunity at ``stage`` may be moved to (lost/abandoned still ask for a reason)."""
    return [target for target in STAGES if transition_error(stage, target, 1) is None]


def move_menu(stage: str) -> list[str]:
    """The stages a board card's "Déplacer" menu lists: forward moves first, a move back (a card moved too
    far) next, then the closing ones that ask for a reason."""
    targets = move_targets(stage)
    rank = {s: i for i, s in enumerate((*OPEN_STAGES, "gagnee"))}
    current = rank.get(stage, 0)
    direct = sorted((t for t in targets if t in rank), key=lambda t: (rank[t] < current, rank[t]))
    return direct + [t for t in targets if t not in rank]


def days_in_stage(opportunity: Opportunity, today: date | None = None) -> int:
    changed = opportunity.stage_changed_at
    changed_on = local_date(changed) if isinstance(changed, datetime) else changed
    return max(0, ((today or local_today()) - changed_on).days)


# --- select options --------------------------------------------------------------------------------


def owner_choices(include: User | None = None) -> list[User]:
    """Active animators and admins, the people an opportunity or a project can belong to."""
    users = list(
        db.session.scalars(
            select(User)
            .where(User.active.is_(True), User.role.in_(("animateur", "admin")))
            .order_by(User.last_name, User.first_name, User.id)
        )
    )
    if include is not None and include not in users:
        users.append(include)
    return users


def offers_by_programme() -> list[tuple[Programme, list[Offer]]]:
    """Active offers grouped by programme, in the CPOM programme order."""
    offers = db.session.scalars(
        select(Offer)
        .join(Programme, Programme.id == Offer.programme_id)
        .where(Offer.active.is_(True), Programme.active.is_(True))
        .order_by(Programme.number, Offer.label)
    ).all()
    groups: dict[int, tuple[Programme, list[Offer]]] = {}
    for offer in offers:
        groups.setdefault(offer.programme_id, (offer.programme, []))[1].append(offer)
    return list(groups.values())


def programmes() -> list[Programme]:
    return list(db.session.scalars(select(Programme).order_by(Programme.number)))


def active_loss_reasons() -> list[LossReason]:
    return list(db.session.scalars(select(LossReason).where(LossReason.active.is_(True)).order_by(LossReason.id)))


def past_source_events(days: int = 366, limit: int = 200) -> list:
    """Events that took place in the last ``days`` days (not drafts, not cancelled), the latest first: what an
    opportunity form offers as the event a need came from."""
    # Events sit above the pipeline: the opportunity's relationship names their model (see _source_event).
    event = Opportunity.source_event.property.mapper.class_
    now = utcnow()
    return list(
        db.session.scalars(
            select(event)
            .where(
                event.status.in_(("publie", "clos")),
                event.starts_at <= now,
                event.starts_at >= now - timedelta(days=days),
            )
            .order_by(event.starts_at.desc(), event.id.desc())
            .limit(limit)
        )
    )
