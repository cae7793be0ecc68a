"""Networks (issue 14): référents of an offer in a structure, grappes of ESMS applying together, applications
to national programmes, and the links between structures (partner networks)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Column, Date, DateTime, ForeignKey, Integer, Numeric, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.platform.extensions import db
from crm.platform.models import utcnow
from crm.referential import kinds as reference_kinds
from crm.referential.models import Offer
from crm.structures.models import Contact, Structure

GRAPPE_STATUSES = {
    "en_constitution": "En constitution",
    "constituee": "Constituée",
    "candidate": "Candidate",
    "financee": "Financée",
    "dissoute": "Dissoute",
}
APPLICATION_PROGRAMMES = {
    "esms_numerique": "ESMS numérique",
    "sun_es": "SUN-ES",
    "sons": "SONS",
    "autre": "Autre programme national",
}
APPLICATION_STATUSES = {
    "brouillon": "Brouillon",
    "deposee": "Déposée",
    "retenue": "Retenue",
    "financee": "Financée",
    "rejetee": "Rejetée",
}
# draft → submitted → selected → funded; a submitted or selected application may be rejected.
APPLICATION_TRANSITIONS = {
    "brouillon": ("deposee",),
    "deposee": ("retenue", "rejetee"),
    "retenue": ("financee", "rejetee"),
    "financee": (),
    "rejetee": (),
}


class Referent(db.Model):
    """A contact who is the référent of a structure for an offer, from ``started_on`` to ``ended_on``."""

    __tablename__ = "referents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id", ondelete="CASCADE"), index=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"), index=True)
    started_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    contact: Mapped[Contact] = relationship(lazy="joined")
    structure: Mapped[Structure] = relationship(lazy="joined")
    offer: Mapped[Offer] = relationship(lazy="joined")

    @property
    def active(self) -> bool:
        return self.ended_on is None


grappe_members = Table(
    "grappe_members",
    db.metadata,
    Column("grappe_id", ForeignKey("grappes.id", ondelete="CASCADE"), primary_key=True),
    Column("structure_id", ForeignKey("structures.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Grappe(db.Model):
    """ESMS applying together (to ESMS numérique, mostly): a named set of structures with a lead."""

    __tablename__ = "grappes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    lead_structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="en_constitution")
    created_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    lead: Mapped[Structure] = relationship(lazy="joined")
    members: Mapped[list[Structure]] = relationship(secondary=grappe_members, order_by="Structure.name")

    @property
    def status_label(self) -> str:
        return GRAPPE_STATUSES.get(self.status, self.status)

    @property
    def department_code(self) -> str:
        return self.lead.department_code


class ProgrammeApplication(db.Model):
    """An application to a national programme's call, by a structure or by a grappe."""

    __tablename__ = "programme_applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme: Mapped[str] = mapped_column(String(30))
    call: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="brouillon")
    amount_requested: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    amount_granted: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    structure_id: Mapped[int | None] = mapped_column(ForeignKey("structures.id", ondelete="CASCADE"), index=True)
    grappe_id: Mapped[int | None] = mapped_column(ForeignKey("grappes.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    structure: Mapped[Structure | None] = relationship(lazy="joined")
    grappe: Mapped[Grappe | None] = relationship(lazy="joined")

    @property
    def programme_label(self) -> str:
        return APPLICATION_PROGRAMMES.get(self.programme, self.programme)

    @property
    def status_label(self) -> str:
        return APPLICATION_STATUSES.get(self.status, self.status)


class StructureLinkType(db.Model):
    """Partenaire d'un DAC, d'une CPTS, d'un CRT, membre d'un GHT...: an editable list."""

    __tablename__ = "structure_link_types"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


reference_kinds.register(
    "types-lien",
    reference_kinds.Kind(
        StructureLinkType,
        "Types de lien entre structures",
        "id",
        [
            ("code", "Code", "code", None),
            ("label", "Libellé", "text", None),
            ("position", "Ordre d'affichage", "int", None),
            ("active", "Actif", "bool", None),
        ],
        (StructureLinkType.position, StructureLinkType.label),
        position=80,
        seed=reference_kinds.Seed(
            "structure_link_types",
            "code",
            lambda position, row: {"code": row[0], "label": row[1], "position": position},
        ),
    ),
)


class StructureLink(db.Model):
    """Structure A is linked to structure B (A is a partner of the DAC B, a member of the GHT B...)."""

    __tablename__ = "structure_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    structure_a_id: Mapped[int] = mapped_column(ForeignKey("structures.id", ondelete="CASCADE"), index=True)
    structure_b_id: Mapped[int] = mapped_column(ForeignKey("structures.id", ondelete="CASCADE"), index=True)
    type_id: Mapped[int] = mapped_column(ForeignKey("structure_link_types.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    structure_a: Mapped[Structure] = relationship(foreign_keys=[structure_a_id], lazy="joined")
    structure_b: Mapped[Structure] = relationship(foreign_keys=[structure_b_id], lazy="joined")
    type: Mapped[StructureLinkType] = relationship(lazy="joined")

    __table_args__ = (UniqueConstraint("structure_a_id", "structure_b_id", "type_id", name="uq_structure_links"),)
