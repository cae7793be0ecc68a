"""Opportunities (needs spotted at a structure), their stage history, projects and milestones."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.platform.extensions import db
from crm.platform.models import utcnow
from crm.referential import kinds as reference_kinds

OPEN_STAGES = ("identifiee", "qualifiee", "proposee")
CLOSED_STAGES = ("gagnee", "perdue", "abandonnee")
STAGES = {
    "identifiee": "Identifiée",
    "qualifiee": "Qualifiée",
    "proposee": "Proposée",
    "gagnee": "Gagnée",
    "perdue": "Perdue",
    "abandonnee": "Abandonnée",
}
SOURCES = {"visite": "Visite", "evenement": "Événement", "demande_entrante": "Demande entrante", "autre": "Autre"}
# The source an opportunity gets when it comes from an activity of this kind.
SOURCE_OF_ACTIVITY_KIND = {
    "visite": "visite",
    "demonstration": "visite",
    "reunion": "visite",
    "webinaire": "evenement",
    "atelier": "evenement",
    "formation": "evenement",
    "appel": "demande_entrante",
    "email": "demande_entrante",
    "autre": "autre",
}
PROJECT_STATUSES = {"en_cours": "En cours", "suspendu": "Suspendu", "termine": "Terminé"}
# A structure with a project in progress or finished on a programme is engaged in it.
ENGAGED_STATUSES = ("en_cours", "termine")


class LossReason(db.Model):
    """Why an opportunity was lost or abandoned: an editable list."""

    __tablename__ = "loss_reasons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(160), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


# Admins edit the list on the reference pages, which seed it from reference.json.
reference_kinds.register(
    "raisons",
    reference_kinds.Kind(
        LossReason,
        "Raisons de perte ou d'abandon d'une opportunité",
        "id",
        [("label", "Libellé", "text", None), ("active", "Active", "bool", None)],
        (LossReason.label,),
        position=60,
        seed=reference_kinds.Seed("loss_reasons", "label", lambda _position, label: {"label": label}),
    ),
)


class Opportunity(db.Model):
    __tablename__ = "opportunities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id", ondelete="CASCADE"))
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"))
    # Denormalised from the offer at creation: the indicators group by programme.
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    # The structure's department, kept in step with it (``sync_departments``): the board and the
    # indicators filter on it through one index instead of a sub-select over the structures.
    department_code: Mapped[str] = mapped_column(ForeignKey("departments.code"))
    title: Mapped[str] = mapped_column(String(200))
    need: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20), default="visite")
    source_activity_id: Mapped[int | None] = mapped_column(ForeignKey("activities.id", ondelete="SET NULL"))
    # The event it came from, when the source is "evenement" and whoever opened it said which one: the
    # event's attribution (crm/indicators/attribution.py) counts it for that event whatever the dates.
    source_event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expected_on: Mapped[date | None] = mapped_column(Date)
    stage: Mapped[str] = mapped_column(String(20), default="identifiee")
    identified_on: Mapped[date] = mapped_column(Date)
    stage_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_on: Mapped[date | None] = mapped_column(Date)
    loss_reason_id: Mapped[int | None] = mapped_column(ForeignKey("loss_reasons.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    structure = relationship("Structure", lazy="joined")
    offer = relationship("Offer", lazy="joined")
    programme = relationship("Programme", lazy="joined")
    owner = relationship("User", foreign_keys=[owner_id], lazy="joined")
    loss_reason = relationship(LossReason, lazy="joined")
    source_event = relationship("Event")
    changes: Mapped[list[StageChange]] = relationship(
        back_populates="opportunity", order_by="StageChange.id", cascade="all, delete-orphan"
    )
    project: Mapped[Project | None] = relationship(back_populates="opportunity", uselist=False)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_opportunities_stage", "stage", "structure_id"),
        Index("ix_opportunities_structure", "structure_id"),
        Index("ix_opportunities_owner_stage", "owner_id", "stage"),
        Index("ix_opportunities_identified_on", "identified_on"),
        Index("ix_opportunities_department_stage", "department_code", "stage", "stage_changed_at", "id"),
        Index("ix_opportunities_moved", "stage_changed_at", "id"),  # the list, last moved first, and its cursor
        Index("ix_opportunities_stage_moved", "stage", "stage_changed_at", "id"),  # a board column, all departments
        # A department's board for one programme: its counts and its columns' cards.
        Index(
            "ix_opportunities_department_programme",
            "department_code",
            "programme_id",
            "stage",
            "stage_changed_at",
            "id",
        ),
        Index("ix_opportunities_source_event", "source_event_id"),
    )

    @property
    def stage_label(self) -> str:
        return STAGES.get(self.stage, self.stage)

    @property
    def is_open(self) -> bool:
        return self.stage in OPEN_STAGES


class StageChange(db.Model):
    """One stage change, with its date and author: what time-in-stage and the funnel read."""

    __tablename__ = "opportunity_stage_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunities.id", ondelete="CASCADE"), index=True)
    from_stage: Mapped[str | None] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason_id: Mapped[int | None] = mapped_column(ForeignKey("loss_reasons.id"))
    comment: Mapped[str | None] = mapped_column(String(500))

    opportunity: Mapped[Opportunity] = relationship(back_populates="changes")
    changed_by = relationship("User", lazy="joined")
    reason = relationship(LossReason, lazy="joined")


class Project(db.Model):
    """An accompaniment: the work that follows a won opportunity, or starts directly."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id", ondelete="CASCADE"))
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    department_code: Mapped[str] = mapped_column(ForeignKey("departments.code"))  # as on Opportunity
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("opportunities.id", ondelete="SET NULL"), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="en_cours")
    started_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    structure = relationship("Structure", lazy="joined")
    offer = relationship("Offer", lazy="joined")
    programme = relationship("Programme", lazy="joined")
    owner = relationship("User", lazy="joined")
    opportunity: Mapped[Opportunity | None] = relationship(back_populates="project")
    milestones: Mapped[list[Milestone]] = relationship(
        back_populates="project", order_by="Milestone.due_on", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_projects_structure_programme", "structure_id", "programme_id", "status"),
        Index("ix_projects_department_started", "department_code", "started_on", "id"),
        Index("ix_projects_started", "started_on", "id"),  # the list, last started first, and its cursor
    )

    @property
    def status_label(self) -> str:
        return PROJECT_STATUSES.get(self.status, self.status)


class Milestone(db.Model):
    __tablename__ = "project_milestones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    due_on: Mapped[date | None] = mapped_column(Date)
    done_on: Mapped[date | None] = mapped_column(Date)

    project: Mapped[Project] = relationship(back_populates="milestones")
