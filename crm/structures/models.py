"""Structures (establishments and partners), their contacts, and FINESS import runs."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.platform.extensions import db
from crm.platform.models import utcnow
from crm.platform.text import fold
from crm.referential.models import Category, Department, Sector

# Fields a FINESS import owns; a hand edit of one of them is remembered in
# ``Structure.manual_fields`` so that a later import does not silently undo it.
FINESS_FIELDS = (
    "finess_ej",
    "name",
    "long_name",
    "siret",
    "address",
    "postal_code",
    "commune",
    "commune_code",
    "department_code",
    "phone",
    "finess_category_code",
    "category_id",
    "opened_on",
    "latitude",
    "longitude",
)
# Hand edits the import also respects, though the file does not carry them as such:
# a structure closed by hand stays closed while the registry still lists it.
HAND_KEPT_STATE = ("is_open",)


class Structure(db.Model):
    __tablename__ = "structures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finess_et: Mapped[str | None] = mapped_column(String(9), unique=True)
    finess_ej: Mapped[str | None] = mapped_column(String(9))
    siret: Mapped[str | None] = mapped_column(String(14))
    name: Mapped[str] = mapped_column(String(255))
    long_name: Mapped[str | None] = mapped_column(String(255))
    sector_id: Mapped[int | None] = mapped_column(ForeignKey("sectors.id", ondelete="SET NULL"))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id", ondelete="SET NULL"))
    finess_category_code: Mapped[str | None] = mapped_column(String(4))
    address: Mapped[str | None] = mapped_column(String(255))
    postal_code: Mapped[str | None] = mapped_column(String(5))
    commune: Mapped[str | None] = mapped_column(String(120))
    commune_code: Mapped[str | None] = mapped_column(String(5))
    department_code: Mapped[str] = mapped_column(ForeignKey("departments.code"))
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    website: Mapped[str | None] = mapped_column(String(255))
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    opened_on: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    notes: Mapped[str | None] = mapped_column(Text)
    # "finess" when the FINESS registry is the record's source, "manuel" otherwise.
    source: Mapped[str] = mapped_column(String(20), default="manuel")
    finess_updated_on: Mapped[date | None] = mapped_column(Date)
    manual_fields: Mapped[list] = mapped_column(JSON, default=list)
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    # Optimistic locking: an edit made on a stale form is refused instead of lost.
    version: Mapped[int] = mapped_column(Integer, default=1)

    sector: Mapped[Sector | None] = relationship(lazy="joined")
    category: Mapped[Category | None] = relationship(lazy="joined")
    department: Mapped[Department] = relationship(lazy="joined")
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="structure", order_by="Contact.last_name", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_structures_department_open", "department_code", "is_open"),
        Index("ix_structures_sector", "sector_id"),
        Index("ix_structures_category", "category_id"),
        Index("ix_structures_name", "name"),
        # Trigram index: makes the accent-folded "contains" search fast on PostgreSQL.
        Index(
            "ix_structures_search_text_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
    )

    @staticmethod
    def build_search_text(name, long_name, finess_et, commune, postal_code, siret=None) -> str:
        return " ".join(
            part
            for part in (fold(name), fold(long_name), finess_et or "", fold(commune), postal_code or "", siret or "")
            if part
        )

    def refresh_search_text(self) -> None:
        self.search_text = self.build_search_text(
            self.name, self.long_name, self.finess_et, self.commune, self.postal_code, self.siret
        )

    def payload(self) -> dict:
        """What an event consumer needs to know about the structure."""
        return {
            "structure_id": self.id,
            "finess_et": self.finess_et,
            "department": self.department_code,
            "sector": self.sector.code if self.sector else None,
            "category": self.category.code if self.category else None,
            "is_open": self.is_open,
        }


class Contact(db.Model):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id", ondelete="CASCADE"), index=True)
    civility: Mapped[str | None] = mapped_column(String(10))
    first_name: Mapped[str | None] = mapped_column(String(80))
    last_name: Mapped[str | None] = mapped_column(String(80))
    function: Mapped[str | None] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    phone: Mapped[str | None] = mapped_column(String(20))
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source: Mapped[str | None] = mapped_column(String(40))
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    structure: Mapped[Structure] = relationship(back_populates="contacts")

    @property
    def display_name(self) -> str:
        if self.erased_at:
            return "Contact effacé (RGPD)"
        return " ".join(p for p in (self.first_name, self.last_name) if p) or (self.email or "—")


class ImportRun(db.Model):
    """One FINESS import: who started it, its state and its summary."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="finess")
    filename: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str | None] = mapped_column(String(500))
    all_regions: Mapped[bool] = mapped_column(Boolean, default=False)
    # "admin" (uploaded, run by a worker) or "cli" (``flask crm import-finess``, run in that process).
    origin: Mapped[str] = mapped_column(String(20), default="admin")
    # en_attente -> en_cours -> terminé | échoué | refusé (too many closures: nothing written, the
    # summary is the preview); a confirmed refused run goes back to en_attente.
    status: Mapped[str] = mapped_column(String(20), default="en_attente")
    # How many closures the admin confirmed after the preview (None: not confirmed).
    confirmed_closures: Mapped[int | None] = mapped_column(Integer)
    job_id: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    summary: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)

    user = relationship("User")

    STATUS_LABELS = {
        "en_attente": "En attente",
        "en_cours": "En cours",
        "terminé": "Terminé",
        "échoué": "Échoué",
        "refusé": "Refusé : fermetures à confirmer",
    }

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)
