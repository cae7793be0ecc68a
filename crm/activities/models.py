"""Activities: one interaction logged by an animator, concerning one or more structures."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Column, Date, DateTime, ForeignKey, Index, Integer, String, Table, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.platform.extensions import db
from crm.platform.models import utcnow

KINDS = {
    "visite": "Visite",
    "appel": "Appel",
    "reunion": "Réunion",
    "demonstration": "Démonstration",
    "formation": "Formation",
    "atelier": "Atelier",
    "webinaire": "Webinaire",
    "email": "E-mail",
    "autre": "Autre",
}

# One activity counts once for each structure it concerns (a CPTS meeting with three EHPAD).
activity_structures = Table(
    "activity_structures",
    db.metadata,
    Column("activity_id", ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True),
    Column("structure_id", ForeignKey("structures.id", ondelete="CASCADE"), primary_key=True),
    # A structure's activities: the ids in the index itself (index-only), e.g. a page's last visits.
    Index("ix_activity_structures_structure_activity", "structure_id", "activity_id"),
)
activity_contacts = Table(
    "activity_contacts",
    db.metadata,
    Column("activity_id", ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True),
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
)
activity_offers = Table(
    "activity_offers",
    db.metadata,
    Column("activity_id", ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True),
    Column("offer_id", ForeignKey("offers.id"), primary_key=True),
)
activity_programmes = Table(
    "activity_programmes",
    db.metadata,
    Column("activity_id", ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True),
    Column("programme_id", ForeignKey("programmes.id"), primary_key=True),
)

# The activity list's keys per department (docs/architecture.md, "Lists at national scale"): one row per
# activity and department of its structures with ``programme_id`` 0, and one more per programme it
# discussed (directly or through an offer), each with the activity's kind and day. A department's
# list, by type or programme too, is one range of the index below, without reading the activities;
# kept in the activity's transaction (crm/activities/departments.py).
ALL_PROGRAMMES = 0
activity_departments = Table(
    "activity_departments",
    db.metadata,
    Column("activity_id", ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True),
    Column("department_code", String(3), primary_key=True),
    Column("programme_id", Integer, primary_key=True, default=ALL_PROGRAMMES),
    Column("kind", String(20), nullable=False),
    Column("occurred_on", Date, nullable=False),
    Index("ix_activity_departments_listing", "department_code", "programme_id", "occurred_on", "activity_id", "kind"),
)


VISITS = "kind = 'visite'"


class Activity(db.Model):
    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    occurred_on: Mapped[date] = mapped_column(Date)
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    subject: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    # An "information" activity feeds the CPOM participation indicator.
    is_information: Mapped[bool] = mapped_column(Boolean, default=False)
    next_step: Mapped[str | None] = mapped_column(String(300))
    next_step_due_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    author = relationship("User", lazy="joined")
    structures = relationship("Structure", secondary=activity_structures, lazy="selectin", order_by="Structure.name")
    contacts = relationship("Contact", secondary=activity_contacts, lazy="selectin")
    offers = relationship("Offer", secondary=activity_offers, lazy="selectin")
    programmes = relationship("Programme", secondary=activity_programmes, lazy="selectin")

    __table_args__ = (
        # The list's order (newest first, id to break ties) and its cursor: one index range.
        Index("ix_activities_occurred_on_id", "occurred_on", "id"),
        Index("ix_activities_author_occurred", "author_id", "occurred_on"),
        # The visits alone (a third of the activities), for the targeting list's last visit per structure.
        Index(
            "ix_activities_visits",
            "id",
            "occurred_on",
            postgresql_where=text(VISITS),
            sqlite_where=text(VISITS),
        ),
    )

    @property
    def kind_label(self) -> str:
        return KINDS.get(self.kind, self.kind)

    def all_programme_ids(self) -> list[int]:
        """Programmes discussed directly or through an offer."""
        return sorted({p.id for p in self.programmes} | {o.programme_id for o in self.offers})
