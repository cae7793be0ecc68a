"""Where each service (offer) stands in each structure.

- ``DeploymentStatus``: the ordered list of statuses (non concerné → usage actif); an admin edits their labels
  on the reference pages, the code and the rank are fixed (the rules and the indicators compare ranks).
- ``StructureDeployment``: the status of one (structure, offer), its date, source (manuel, règle, import) and
  author.
- ``OfferDeploymentSettings``: per offer, the eligible population (sectors and categories), the usage metric
  (name, unit) and the column mapping of its statistics' CSV.
- ``EligibilityOverride``: a structure added to (``included``) or excluded from an offer's population by hand.
- ``UsageFigure``: the usage of one (structure, offer, month).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.platform.extensions import db
from crm.platform.models import utcnow
from crm.referential import kinds as reference_kinds

# (code, default label), in rank order: a status "at or beyond" another has a rank >= it.
STATUSES: tuple[tuple[str, str], ...] = (
    ("non_concerne", "Non concerné"),
    ("a_sensibiliser", "À sensibiliser"),
    ("en_projet", "En projet"),
    ("deploye", "Déployé"),
    ("en_production", "En production"),
    ("usage_actif", "Usage actif"),
)
RANKS: dict[str, int] = {code: rank for rank, (code, _label) in enumerate(STATUSES)}
DEFAULT_LABELS: dict[str, str] = dict(STATUSES)
DEPLOYED = "deploye"  # the deployment rate counts the structures at or beyond it
SOURCES: dict[str, str] = {"manuel": "Manuel", "regle": "Règle", "import": "Import"}


class DeploymentStatus(db.Model):
    __tablename__ = "deployment_statuses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    label: Mapped[str] = mapped_column(String(80))
    rank: Mapped[int] = mapped_column(Integer, default=0)


reference_kinds.register(
    "statuts-deploiement",
    reference_kinds.Kind(
        DeploymentStatus,
        "Statuts de déploiement des services",
        "id",
        [("label", "Libellé", "text", None)],
        (DeploymentStatus.rank,),
        position=80,
        seed=reference_kinds.Seed(
            "deployment_statuses",
            "code",
            lambda position, item: {"code": item[0], "label": item[1], "rank": position},
        ),
    ),
)


class StructureDeployment(db.Model):
    __tablename__ = "structure_deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id", ondelete="CASCADE"))
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))
    status_on: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(10), default="manuel")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        UniqueConstraint("structure_id", "offer_id", name="uq_structure_deployments_structure_offer"),
        Index("ix_structure_deployments_offer_status", "offer_id", "status"),
    )

    @property
    def rank(self) -> int:
        return RANKS.get(self.status, 0)


class OfferDeploymentSettings(db.Model):
    __tablename__ = "offer_deployment_settings"

    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True)
    # Sector and category codes, comma separated; both empty: the offer's programme's target sectors.
    eligible_sectors: Mapped[str] = mapped_column(String(400), default="")
    eligible_categories: Mapped[str] = mapped_column(String(400), default="")
    metric_name: Mapped[str] = mapped_column(String(120), default="Utilisateurs actifs")
    metric_unit: Mapped[str] = mapped_column(String(40), default="utilisateurs")
    # The CSV's column names for "identifier", "month" and "value" (the last import's choice).
    column_mapping: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EligibilityOverride(db.Model):
    __tablename__ = "eligibility_overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id", ondelete="CASCADE"))
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"))
    included: Mapped[bool] = mapped_column(Boolean)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("structure_id", "offer_id", name="uq_eligibility_overrides_structure_offer"),)


class UsageFigure(db.Model):
    __tablename__ = "usage_figures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id", ondelete="CASCADE"))
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"))
    month: Mapped[date] = mapped_column(Date)  # the first day of the month
    value: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(120), default="")  # the file's name, or "api"
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        UniqueConstraint("structure_id", "offer_id", "month", name="uq_usage_figures_structure_offer_month"),
        Index("ix_usage_figures_offer_month", "offer_id", "month"),
    )


USAGE_RUN_STATUSES = {
    "apercu": "Aperçu, en attente de confirmation",
    "en_attente": "En attente",
    "en_cours": "En cours",
    "termine": "Terminé",
    "echoue": "Échoué",
}


class UsageImportRun(db.Model):
    """A statistics file uploaded on the admin page: previewed, then imported by a background job."""

    __tablename__ = "usage_import_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str | None] = mapped_column(String(500))
    mapping: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="apercu")
    preview: Mapped[dict | None] = mapped_column(JSON)
    summary: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(String(1000))
    job_id: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def status_label(self) -> str:
        return USAGE_RUN_STATUSES.get(self.status, self.status)
