"""The indicators' read model, kept by the outbox worker and rebuilt by ``crm indicators rebuild``.

Two levels, so that maintenance is exact and idempotent:

* **facts**, one set of rows per record (an activity, a registration, an opportunity, a project),
  re-derived from the record whenever an event touches it (delete + insert: running it twice
  changes nothing);
* **cells**, the pre-aggregated counts the pages read, recomputed from the facts for the cell keys
  whose facts changed (before or after).

A rebuild runs the same derivations over every record, so ``crm indicators check`` compares like
with like. Text dimensions use "" (and ids 0) for "none", so that they can sit in primary keys.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.platform.extensions import db


class ParticipationSource(db.Model):
    """Fact: a structure took part in an information activity (an activity flagged "information", or an
    event attended) on a day, about a programme (0 = none said)."""

    __tablename__ = "ind_participation_sources"

    source_type: Mapped[str] = mapped_column(String(20), primary_key=True)  # "activity" | "registration"
    source_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    structure_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    animator_id: Mapped[int] = mapped_column(Integer)
    department_code: Mapped[str] = mapped_column(String(3))
    sector: Mapped[str] = mapped_column(String(40))
    # The structure's population attributes (definitions.py, "populations"), as on every fact and cell.
    opened_on: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    structure_open: Mapped[bool] = mapped_column(Boolean)

    # By (structure, day): the worker reads the sources of the days it re-derives (migration 0021).
    __table_args__ = (Index("ix_ind_participation_sources_structure_day", "structure_id", "day"),)


class ParticipationDay(db.Model):
    """Cell: the participations of a structure on a day, per programme and animator (distinct counts of
    structures over any date range read these rows, never the activities)."""

    __tablename__ = "ind_participation_days"

    structure_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    programme_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    animator_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_code: Mapped[str] = mapped_column(String(3))
    sector: Mapped[str] = mapped_column(String(40))
    # The structure's population attributes (definitions.py, "populations"), as on every fact and cell.
    opened_on: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    structure_open: Mapped[bool] = mapped_column(Boolean)
    sources: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_ind_participation_days_department_day", "department_code", "day"),)


ANY = -1  # programme_id / animator_id of a participation cell counted over all programmes or animators


class ParticipationCell(db.Model):
    """Cell: distinct structures that took part over a calendar month, quarter or year, per department and
    sector, for any programme and animator, per programme, or per animator (the other one then ``ANY``).

    A structure has one department and one sector, so these counts add up across departments and sectors;
    they do not across periods, programmes or animators, hence one row per standard period and per
    dimension read alone. Pages read them for those periods and count the days for any other range. A structure
    counts in the cells of the periods whose population it is in (``population.open_during``), nowhere else."""

    __tablename__ = "ind_participation_cells"

    period_kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # "mois" | "trimestre" | "annee"
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    department_code: Mapped[str] = mapped_column(String(3), primary_key=True)
    sector: Mapped[str] = mapped_column(String(40), primary_key=True)
    programme_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # ANY, 0 (none said) or a programme
    animator_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # ANY, 0 (none) or a user
    structures: Mapped[int] = mapped_column(Integer)

    # The pages' reads: one split (any/any, per programme or per animator) over a period or a run of months.
    __table_args__ = (
        Index(
            "ix_ind_participation_cells_read",
            "period_kind",
            "programme_id",
            "animator_id",
            "period_start",
            "department_code",
            "sector",
            postgresql_include=["structures"],
        ),
    )


class OpportunityFact(db.Model):
    """Fact: one opportunity, with the cohort (identification day) it counts in and what became of it."""

    __tablename__ = "ind_opportunity_facts"

    opportunity_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    structure_id: Mapped[int] = mapped_column(Integer, index=True)
    identified_on: Mapped[date] = mapped_column(Date)
    department_code: Mapped[str] = mapped_column(String(3))
    sector: Mapped[str] = mapped_column(String(40))
    programme_id: Mapped[int] = mapped_column(Integer)
    offer_id: Mapped[int] = mapped_column(Integer)
    owner_id: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(20))
    transformed: Mapped[bool] = mapped_column(Boolean)  # a project came of it
    reached_qualifiee: Mapped[bool] = mapped_column(Boolean)
    reached_proposee: Mapped[bool] = mapped_column(Boolean)
    # Seconds spent in each stage once it was left (None while still in it, or never in it); whole
    # seconds so that sums are exact and a rebuild equals the incremental counts to the unit.
    identifiee_seconds: Mapped[int | None] = mapped_column(BigInteger)
    qualifiee_seconds: Mapped[int | None] = mapped_column(BigInteger)
    proposee_seconds: Mapped[int | None] = mapped_column(BigInteger)

    # Same reason as OfferPresentation's: the cells of the touched (day, department) keys are recomputed.
    __table_args__ = (Index("ix_ind_opportunity_facts_identified_department", "identified_on", "department_code"),)


class OpportunityCell(db.Model):
    """Cell: the opportunities identified on a day, per department, sector, programme, offer and owner."""

    __tablename__ = "ind_opportunity_cells"

    identified_on: Mapped[date] = mapped_column(Date, primary_key=True)
    department_code: Mapped[str] = mapped_column(String(3), primary_key=True)
    sector: Mapped[str] = mapped_column(String(40), primary_key=True)
    programme_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    opportunities: Mapped[int] = mapped_column(Integer)
    transformed: Mapped[int] = mapped_column(Integer)
    won: Mapped[int] = mapped_column(Integer)
    lost: Mapped[int] = mapped_column(Integer)
    abandoned: Mapped[int] = mapped_column(Integer)
    reached_qualifiee: Mapped[int] = mapped_column(Integer)
    reached_proposee: Mapped[int] = mapped_column(Integer)
    identifiee_seconds: Mapped[int] = mapped_column(BigInteger)
    identifiee_left: Mapped[int] = mapped_column(Integer)  # how many left the stage (the average's denominator)
    qualifiee_seconds: Mapped[int] = mapped_column(BigInteger)
    qualifiee_left: Mapped[int] = mapped_column(Integer)
    proposee_seconds: Mapped[int] = mapped_column(BigInteger)
    proposee_left: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_ind_opportunity_cells_department_day", "department_code", "identified_on"),)


class ProjectFact(db.Model):
    """Fact: one project (accompaniment), for engagement and "structures accompanied"."""

    __tablename__ = "ind_project_facts"

    project_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    structure_id: Mapped[int] = mapped_column(Integer, index=True)
    department_code: Mapped[str] = mapped_column(String(3))
    sector: Mapped[str] = mapped_column(String(40))
    structure_open: Mapped[bool] = mapped_column(Boolean)
    opened_on: Mapped[date | None] = mapped_column(Date)  # the structure's (definitions.py, "populations")
    closed_on: Mapped[date | None] = mapped_column(Date)
    programme_id: Mapped[int] = mapped_column(Integer)
    offer_id: Mapped[int] = mapped_column(Integer)
    owner_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    started_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    from_opportunity: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (Index("ix_ind_project_facts_department_started", "department_code", "started_on"),)


class Engagement(db.Model):
    """Cell: a structure engaged in a programme (a project in progress or finished on one of its offers)."""

    __tablename__ = "ind_engagements"

    structure_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_code: Mapped[str] = mapped_column(String(3))
    sector: Mapped[str] = mapped_column(String(40))
    structure_open: Mapped[bool] = mapped_column(Boolean)
    opened_on: Mapped[date | None] = mapped_column(Date)  # the structure's (definitions.py, "populations")
    closed_on: Mapped[date | None] = mapped_column(Date)
    since: Mapped[date] = mapped_column(Date)  # the earliest start of its engaging projects
    projects: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_ind_engagements_department_programme", "department_code", "programme_id"),)


class StructureFact(db.Model):
    """Fact: one structure's department, sector and open dates: the populations the rates count within (the
    denominators are counts of these rows, for the period asked, see ``population.open_during``)."""

    __tablename__ = "ind_structure_facts"

    structure_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_code: Mapped[str] = mapped_column(String(3))
    sector: Mapped[str] = mapped_column(String(40))
    opened_on: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    structure_open: Mapped[bool] = mapped_column(Boolean)

    # The denominators count a department's sectors: covering, so that PostgreSQL reads the index alone.
    __table_args__ = (
        Index(
            "ix_ind_structure_facts_department_sector",
            "department_code",
            "sector",
            postgresql_include=["opened_on", "closed_on", "structure_open"],
        ),
    )


class OfferPresentation(db.Model):
    """Fact: an offer presented (discussed) in an activity, once per department of its structures."""

    __tablename__ = "ind_offer_presentations"

    activity_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    offer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_code: Mapped[str] = mapped_column(String(3), primary_key=True)
    programme_id: Mapped[int] = mapped_column(Integer)
    day: Mapped[date] = mapped_column(Date)
    animator_id: Mapped[int] = mapped_column(Integer)
    # Read by activity only (the primary key): the cells move by the presentations a batch replaces.


class EventOfferPresentation(db.Model):
    """Fact: an offer presented at an event that took place (published or closed), once per department of the
    people present (their structure's, else the one they gave)."""

    __tablename__ = "ind_event_offer_presentations"

    event_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_code: Mapped[str] = mapped_column(String(3), primary_key=True)
    programme_id: Mapped[int] = mapped_column(Integer)
    day: Mapped[date] = mapped_column(Date)
    animator_id: Mapped[int] = mapped_column(Integer)  # the organiser


class OfferPresentationCell(db.Model):
    """Cell: offers presented per day, department, programme, offer and animator (in activities and at events)."""

    __tablename__ = "ind_offer_presentation_cells"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    department_code: Mapped[str] = mapped_column(String(3), primary_key=True)
    programme_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    animator_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    presentations: Mapped[int] = mapped_column(Integer)

    # The report sums a region's or a department's year: covering, so that it reads the index alone.
    __table_args__ = (
        Index(
            "ix_ind_offer_presentation_cells_department_day",
            "department_code",
            "day",
            postgresql_include=["programme_id", "animator_id", "presentations"],
        ),
    )


class EventFact(db.Model):
    """Fact and cell at once (events are few): one event's figures."""

    __tablename__ = "ind_event_facts"

    event_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type_code: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    department_code: Mapped[str] = mapped_column(String(3))
    organiser_id: Mapped[int] = mapped_column(Integer)
    series_id: Mapped[int] = mapped_column(Integer)
    starts_on: Mapped[date] = mapped_column(Date, index=True)
    registered: Mapped[int] = mapped_column(Integer)  # everyone who held a seat: inscrit, present, absent, excuse
    waiting: Mapped[int] = mapped_column(Integer)
    cancelled: Mapped[int] = mapped_column(Integer)
    present: Mapped[int] = mapped_column(Integer)
    absent: Mapped[int] = mapped_column(Integer)
    structures_present: Mapped[int] = mapped_column(Integer)
    answers: Mapped[int] = mapped_column(Integer)
    useful: Mapped[int] = mapped_column(Integer)
    score_sum: Mapped[int] = mapped_column(Integer)


class IndicatorState(db.Model):
    """Key/value: when the read model was last rebuilt (the worker rebuilds it first if it never was)."""

    __tablename__ = "indicator_state"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
