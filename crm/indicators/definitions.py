"""The indicators, defined once: which rows a :class:`Scope` selects, what each indicator counts (its
numerator) and within which population (its denominator).

docs/indicators.md is their written form (served at /indicateurs/definitions, see
:mod:`crm.indicators.docs_page`); this module is the code's, section by section. The queries
(:mod:`crm.indicators.queries`), the drill-down lists (:mod:`crm.indicators.drilldown`), the report and
exports, and the read model's derivations (:mod:`crm.indicators.readmodel.derivations`) read it, so that
a figure, the records behind it and a rebuild cannot disagree. To change an indicator, change its section
here (and the text of docs/indicators.md).

* Participation ("Participation"): distinct ES/ESMS structures of the period's population that took part in
  an information activity or were present at an event that took place / ES/ESMS structures open at some time
  in the period.
* Transformation ("Transformation"): opportunities identified in the period that became a project /
  opportunities identified in the period (the cohort reading).
* Engagement ("Engagement"): structures engaged in the programme (a project in progress or finished) by the
  end of the period and open then / structures of the programme's target population open at the end of the
  period.

Every numerator is counted within its denominator's population (:func:`open_during`), so no rate exceeds
100 %; a rate with a zero denominator is "no data" (:func:`rate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, exists, or_, select, true

from crm.indicators.periods import Period
from crm.indicators.readmodel import models as m
from crm.pipeline.models import Project
from crm.platform.extensions import db
from crm.referential.models import Offer, Programme

ES_ESMS = ("sanitaire", "medico_social")  # the sectors participation counts when no sector is chosen

LABELS = {
    "participation": "Participation aux actions d'information",
    "transformation": "Taux de transformation",
    "engagement": "Taux d'engagement",
}


def rate(numerator: int | float | None, denominator: int | float | None) -> float | None:
    """A rate with a zero denominator is "no data" (None), never 0 % and never an error ("Règles communes")."""
    if not denominator:
        return None
    return (numerator or 0) / denominator


# --- the scope ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What the figures are about: a period, departments, and optional filters."""

    period: Period
    departments: tuple[str, ...]
    programme_id: int | None = None
    offer_id: int | None = None
    animator_id: int | None = None
    sector: str | None = None

    @property
    def participation_sectors(self) -> tuple[str, ...]:
        return (self.sector,) if self.sector else ES_ESMS

    def with_period(self, period: Period) -> Scope:
        return Scope(period, self.departments, self.programme_id, self.offer_id, self.animator_id, self.sector)

    def with_departments(self, departments: tuple[str, ...]) -> Scope:
        return Scope(self.period, departments, self.programme_id, self.offer_id, self.animator_id, self.sector)


def offer_programme(offer_id: int | None) -> int | None:
    """The programme of an offer: filtering by an offer counts participation and engagement in its programme."""
    return db.session.scalar(select(Offer.programme_id).where(Offer.id == offer_id)) if offer_id else None


def scope_programme(scope: Scope) -> int | None:
    return scope.programme_id or offer_programme(scope.offer_id)


# --- populations (docs/indicators.md, "Populations") -----------------------------------------------------
#
# A structure is in the population of a period when it was open at some time in it: opened on or before the
# period's end (or no opening date known), and still open or closed on or after the period's start. A
# structure closed without a date is in no period's population. Engagement reads the population at the
# period's end (``start == end``). The facts and cells of the read model carry their structure's
# ``opened_on``, ``closed_on`` and ``structure_open``, so that both versions read the same three values.


def open_during(table, start, end):
    """SQL: the rows of ``table`` whose structure was open at some time between ``start`` and ``end``."""
    return and_(
        or_(table.c.opened_on.is_(None), table.c.opened_on <= end),
        or_(table.c.structure_open == true(), table.c.closed_on >= start),
    )


def was_open_during(
    opened_on: date | None, closed_on: date | None, structure_open: bool, start: date, end: date
) -> bool:
    """Python: the same rule, for one structure (the worker's moves of the participation cells)."""
    return (opened_on is None or opened_on <= end) and (
        bool(structure_open) or (closed_on is not None and closed_on >= start)
    )


def population_where(facts, departments, sectors, start: date, end: date) -> list:
    """The denominators: the structures (``ind_structure_facts``) of the departments and sectors open at some
    time between ``start`` and ``end``."""
    return [facts.c.department_code.in_(departments), facts.c.sector.in_(sectors), open_during(facts, start, end)]


# --- participation (docs/indicators.md, "Participation") -------------------------------------------------


def participating_activity(activities):
    """Numerator, from activities: the structures of an information activity."""
    return activities.c.is_information == true()


def participating_registration(registrations, events):
    """Numerator, from events: a structure present at an event that took place (not cancelled)."""
    return and_(registrations.c.status == "present", events.c.status != "annule")


def participation_where(scope: Scope, days=None) -> list:
    """The participation days (``ind_participation_days``) a scope counts; the numerator is their distinct
    structures. The denominator is :func:`population_where` over ``scope.participation_sectors``."""
    days = days if days is not None else m.ParticipationDay.__table__
    where = [
        days.c.day.between(scope.period.start, scope.period.end),
        days.c.department_code.in_(scope.departments),
        days.c.sector.in_(scope.participation_sectors),
        open_during(days, scope.period.start, scope.period.end),
    ]
    programme_id = scope_programme(scope)
    if programme_id:
        where.append(days.c.programme_id == programme_id)
    if scope.animator_id:
        where.append(days.c.animator_id == scope.animator_id)
    return where


# --- transformation (docs/indicators.md, "Transformation") -----------------------------------------------


def transformed(opportunities):
    """Numerator, per opportunity: it became a project (the fact's ``transformed``)."""
    return exists().where(Project.__table__.c.opportunity_id == opportunities.c.id)


# Over ``ind_opportunity_cells``: the numerator and the denominator are these sums.
TRANSFORMATION_NUMERATOR, TRANSFORMATION_DENOMINATOR = "transformed", "opportunities"


def opportunity_cohort_where(scope: Scope, table) -> list:
    """The denominator: the opportunities identified in the period, in scope (over ``ind_opportunity_facts``
    or ``ind_opportunity_cells``, which share these columns); the funnel follows the same cohort."""
    where = [
        table.c.identified_on.between(scope.period.start, scope.period.end),
        table.c.department_code.in_(scope.departments),
    ]
    for column, value in (
        (table.c.programme_id, scope.programme_id),
        (table.c.offer_id, scope.offer_id),
        (table.c.owner_id, scope.animator_id),
        (table.c.sector, scope.sector),
    ):
        if value:
            where.append(column == value)
    return where


# --- engagement (docs/indicators.md, "Engagement") -------------------------------------------------------

ENGAGING_STATUSES = ("en_cours", "termine")  # a project in progress or finished engages its structure


def target_sectors(programme: Programme, sector: str | None = None) -> tuple[str, ...]:
    """The denominator's sectors: the programme's target population (within the chosen sector)."""
    targets = tuple(s.strip() for s in (programme.target_sectors or "").split(",") if s.strip())
    if sector:
        return tuple(s for s in targets if s == sector)
    return targets


def engaged_where(scope: Scope, engagements, project_facts) -> tuple:
    """The numerator's rows: ``(table, where)``, the structures engaged by the end of the period and open then
    (``ind_engagements``), or with an animator chosen, the projects that animator's engaged (``ind_project_facts``,
    one row per project: count their distinct structures). The caller narrows the programmes and sectors."""
    end = scope.period.end
    if scope.animator_id:
        table = project_facts
        where = [
            table.c.owner_id == scope.animator_id,
            table.c.status.in_(ENGAGING_STATUSES),
            table.c.started_on <= end,
        ]
    else:
        table = engagements
        where = [table.c.since <= end]
    return table, where + [open_during(table, end, end), table.c.department_code.in_(scope.departments)]


# --- the formulas, in words (the tiles' short forms of docs/indicators.md) --------------------------------


def formula(key: str, scope: Scope) -> str:
    if key == "participation":
        if scope.sector:
            return (
                "structures du secteur ayant participé à une action d'information / structures du secteur"
                " ouvertes sur la période"
            )
        return (
            "structures ES et ESMS ayant participé à une action d'information"
            " / structures ES et ESMS ouvertes sur la période"
        )
    if key == "transformation":
        return "opportunités identifiées sur la période devenues projet / opportunités identifiées"
    if scope.programme_id:
        return "structures engagées dans le programme / structures de la population cible ouvertes en fin de période"
    return (
        "engagements de structures dans les programmes / structures de la population cible ouvertes en fin de période"
    )


__all__ = [
    "ENGAGING_STATUSES",
    "ES_ESMS",
    "LABELS",
    "Scope",
    "engaged_where",
    "formula",
    "open_during",
    "opportunity_cohort_where",
    "participation_where",
    "population_where",
    "rate",
    "target_sectors",
    "transformed",
    "was_open_during",
]
