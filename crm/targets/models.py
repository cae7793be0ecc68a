"""Targets ("cibles"): the value an indicator should reach in a year, from the ARS's yearly objectives note.

One row per indicator, year, place (a department, or the region when ``department_code`` is NULL) and
programme (all programmes when ``programme_id`` is NULL). Rates are stored in % (12.5 for 12,5 %),
counts in units.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import DateTime, ForeignKey, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.platform.extensions import db
from crm.platform.models import utcnow


@dataclass(frozen=True)
class Indicator:
    code: str
    label: str
    kind: str  # "rate" (in %) or "count" (in units)

    @property
    def is_rate(self) -> bool:
        return self.kind == "rate"

    @property
    def unit(self) -> str:
        return "%" if self.is_rate else "unités"


# The codes are those of the indicator API (crm/api/indicators.py): the three CPOM rates, then the
# activity report's figures as ``/api/v1/indicators/report`` names them.
INDICATORS: dict[str, Indicator] = {
    i.code: i
    for i in (
        Indicator("participation", "Participation aux actions d'information", "rate"),
        Indicator("transformation", "Taux de transformation", "rate"),
        Indicator("engagement", "Taux d'engagement", "rate"),
        Indicator("structures_accompanied", "Structures accompagnées", "count"),
        Indicator("medico_social", "Part de structures médico-sociales accompagnées", "rate"),
        Indicator("other_offers", "Part des offres présentées hors coordination", "rate"),
        Indicator("territorial_events", "Événements territoriaux organisés", "count"),
        Indicator("webinars", "Webinaires", "count"),
        Indicator("webinar_participants", "Participants aux webinaires", "count"),
        Indicator("webinar_useful", "Part des participants ayant trouvé le webinaire utile", "rate"),
    )
}
# The indicators that also have targets per programme (the second grid).
PROGRAMME_INDICATORS = ("participation", "transformation", "engagement")


def scope_key(department_code: str | None, programme_id: int | None) -> str:
    """The place and programme as one non-null string, so that the unique constraint holds for the region
    and "all programmes" too (NULLs are distinct in a unique constraint)."""
    return f"{department_code or ''}|{programme_id or ''}"


class Target(db.Model):
    __tablename__ = "targets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    indicator: Mapped[str] = mapped_column(String(40))
    year: Mapped[int] = mapped_column(Integer)
    department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code", ondelete="CASCADE"))
    programme_id: Mapped[int | None] = mapped_column(ForeignKey("programmes.id", ondelete="CASCADE"))
    scope_key: Mapped[str] = mapped_column(String(20))
    value: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (UniqueConstraint("year", "indicator", "scope_key", name="uq_targets_year_indicator_scope"),)

    @property
    def definition(self) -> Indicator:
        return INDICATORS[self.indicator]
