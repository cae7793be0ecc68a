"""Tasks ("relances"): a follow-up to do, with its owner and due date."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.platform.extensions import db
from crm.platform.models import utcnow

TASK_SOURCES = {
    "manuel": "Saisie manuelle",
    "activite": "Prochaine étape d'une activité",
    "workflow": "Règle automatique",
}


class Task(db.Model):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    due_on: Mapped[date | None] = mapped_column(Date)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    structure_id: Mapped[int | None] = mapped_column(ForeignKey("structures.id", ondelete="CASCADE"))
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("opportunities.id", ondelete="SET NULL"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"))
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activities.id", ondelete="SET NULL"))
    # The event a follow-up is about (the event_followup_tasks rule: a structure came, nothing is open yet).
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(20), default="manuel")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    owner = relationship("User", foreign_keys=[owner_id], lazy="joined")
    structure = relationship("Structure", lazy="joined")
    opportunity = relationship("Opportunity", lazy="select")
    project = relationship("Project", lazy="select")
    event = relationship("Event", lazy="select")

    __table_args__ = (
        Index("ix_tasks_owner_open", "owner_id", "done_at", "due_on"),
        Index("ix_tasks_structure", "structure_id"),
        # What the workflow rules ask before adding a task: "has this activity, opportunity or event its
        # follow-up already?", once per event processed.
        Index("ix_tasks_activity", "activity_id"),
        Index("ix_tasks_opportunity", "opportunity_id"),
        Index("ix_tasks_event_structure", "event_id", "structure_id"),
    )

    @property
    def is_done(self) -> bool:
        return self.done_at is not None
