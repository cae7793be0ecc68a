"""Reference data: regions, departments, sectors, categories, programmes, offers,
and the mapping from FINESS category codes to our sectors and categories."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.platform.extensions import db


class Region(db.Model):
    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(3), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))


class Department(db.Model):
    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(3), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)

    region: Mapped[Region] = relationship(lazy="joined")

    @property
    def label(self) -> str:
        return f"{self.code} – {self.name}"


class Sector(db.Model):
    """Sanitaire, médico-social, social, exercice coordonné..."""

    __tablename__ = "sectors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(120))
    # "ES et ESMS" in the CPOM indicators = the sectors flagged here.
    is_es_esms: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Category(db.Model):
    """CHU, CH, EHPAD, IME, CPTS, DAC..."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(160))
    sector_id: Mapped[int | None] = mapped_column(ForeignKey("sectors.id", ondelete="SET NULL"), index=True)

    sector: Mapped[Sector | None] = relationship(lazy="joined")


class Programme(db.Model):
    """One of the 16 CPOM programmes."""

    __tablename__ = "programmes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(160))
    # Sector codes of the programme's target population (engagement denominator), comma separated.
    target_sectors: Mapped[str] = mapped_column(String(200), default="sanitaire,medico_social")
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    offers: Mapped[list[Offer]] = relationship(back_populates="programme", order_by="Offer.label")


class Offer(db.Model):
    """A service a structure can be engaged in (SPICO Dossiers, ViaTrajectoire...)."""

    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    label: Mapped[str] = mapped_column(String(160))
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    programme: Mapped[Programme] = relationship(back_populates="offers", lazy="joined")


class FinessCategoryMapping(db.Model):
    """FINESS ``categetab`` code -> our category (and through it, sector)."""

    __tablename__ = "finess_category_mappings"

    finess_code: Mapped[str] = mapped_column(String(4), primary_key=True)
    finess_label: Mapped[str] = mapped_column(String(160))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id", ondelete="SET NULL"))

    category: Mapped[Category | None] = relationship(lazy="joined")
