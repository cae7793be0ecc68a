"""The notes a manager writes for each section of the yearly pack, kept per year and department."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.platform.extensions import db
from crm.platform.models import utcnow

REGION = ""  # department_code of the region-wide pack ("" rather than NULL: NULLs never collide in a unique key)


class ReportNote(db.Model):
    __tablename__ = "report_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    department_code: Mapped[str] = mapped_column(String(3), default=REGION)
    section: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text, default="")
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("year", "department_code", "section", name="uq_report_notes_section"),)
