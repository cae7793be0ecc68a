"""How each fact and cell of the indicators' read model is derived from the records, as SQL.

Every derivation takes optional filters (ids of the records an event touched, or keys of the cells to
recompute); without filters it derives everything, which is what the rebuild runs. One definition
serves both, so an incremental update and a rebuild cannot disagree.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Integer,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    literal_column,
    select,
    true,
    tuple_,
    union,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY

from crm.activities.models import Activity, activity_offers, activity_programmes, activity_structures
from crm.events.followup.survey_models import SurveyResponse
from crm.events.models import Event, EventType, Registration, event_offers, event_programmes
from crm.indicators.definitions import (
    ENGAGING_STATUSES,
    open_during,
    participating_activity,
    participating_registration,
    transformed,
)
from crm.indicators.readmodel import models as m
from crm.pipeline.models import Opportunity, Project, StageChange
from crm.platform.extensions import db
from crm.platform.sql import among
from crm.referential.models import Offer, Sector
from crm.structures.models import Structure

A, AST, AO, AP = Activity.__table__, activity_structures, activity_offers, activity_programmes
E, ET, EP, EO, R = Event.__table__, EventType.__table__, event_programmes, event_offers, Registration.__table__
SR, OPP, SC, P = SurveyResponse.__table__, Opportunity.__table__, StageChange.__table__, Project.__table__
O, S, SEC = Offer.__table__, Structure.__table__, Sector.__table__  # noqa: E741  (SQL-style table aliases)


def _postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def among_pairs(columns, pairs):
    """``(a, b) IN pairs``; on PostgreSQL, two array parameters unnested side by side."""
    pairs = list(pairs)
    if not _postgresql():
        return tuple_(*columns).in_(pairs)
    arrays = [
        bindparam(None, [pair[i] for pair in pairs], type_=ARRAY(column.type)) for i, column in enumerate(columns)
    ]
    return tuple_(*columns).in_(select(*[func.unnest(array) for array in arrays]))


def unnested_pairs(pairs, types):
    """PostgreSQL: the pairs as a subquery of two columns, two array parameters unnested side by side, to join
    on (an index on both columns then reads them pair by pair)."""
    columns = [
        func.unnest(bindparam(None, [pair[i] for pair in pairs], type_=ARRAY(type_())), type_=type_)
        for i, type_ in enumerate(types)
    ]
    return select(*[column.label(f"key{i}") for i, column in enumerate(columns)]).subquery("changed_pairs")


SEAT_HOLDERS = ("inscrit", "present", "absent", "excuse")


def _sector():
    # A literal, not a bound parameter: PostgreSQL must see the same expression in SELECT and GROUP BY.
    return func.coalesce(SEC.c.code, literal_column("''"))


def _structure_join(left, structure_id_column):
    return left.join(S, S.c.id == structure_id_column).outerjoin(SEC, SEC.c.id == S.c.sector_id)


POPULATION_COLUMNS = ("opened_on", "closed_on", "structure_open")


def _population():
    """The structure's population attributes, carried by every fact (see ``definitions.open_during``)."""
    return S.c.opened_on, S.c.closed_on, S.c.is_open


def paris_date(column, dialect: str):
    """The calendar day in Europe/Paris of a UTC timestamp. SQLite has no time zones: there the day is
    taken at UTC+1, which is only wrong for events starting between 23:00 and midnight in summer."""
    if dialect == "postgresql":
        return cast(func.timezone("Europe/Paris", column), Date)
    return func.date(column, "+1 hour")


def seconds_between(start, end, dialect: str):
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", end - start)), BigInteger)
    return cast((func.julianday(end) - func.julianday(start)) * 86400, Integer)


# --- participation in information activities --------------------------------------------------------

PARTICIPATION_COLUMNS = (
    "source_type",
    "source_id",
    "structure_id",
    "programme_id",
    "day",
    "animator_id",
    "department_code",
    "sector",
) + POPULATION_COLUMNS


def activity_participations(activity_ids=None, structure_ids=None):
    """Each structure of an information activity, once per programme discussed (0 if none)."""
    # The union is narrowed to information activities before it is made distinct, not after (a third of them),
    # and to the activities asked for: else PostgreSQL may hash every information activity for each batch.
    information = select(A.c.id).where(participating_activity(A))
    if activity_ids is not None:
        information = information.where(among(A.c.id, activity_ids))
    elif structure_ids is not None:
        information = information.where(
            A.c.id.in_(select(AST.c.activity_id).where(among(AST.c.structure_id, structure_ids)).scalar_subquery())
        )
    explicit = select(AP.c.activity_id, AP.c.programme_id).where(AP.c.activity_id.in_(information))
    through_offers = (
        select(AO.c.activity_id, O.c.programme_id)
        .join(O, O.c.id == AO.c.offer_id)
        .where(AO.c.activity_id.in_(information))
    )
    programmes = union(explicit, through_offers).subquery()
    query = (
        select(
            literal("activity"),
            A.c.id,
            AST.c.structure_id,
            func.coalesce(programmes.c.programme_id, 0),
            A.c.occurred_on,
            func.coalesce(A.c.author_id, 0),
            S.c.department_code,
            _sector(),
            *_population(),
        )
        .select_from(
            _structure_join(A.join(AST, AST.c.activity_id == A.c.id), AST.c.structure_id).outerjoin(
                programmes, programmes.c.activity_id == A.c.id
            )
        )
        .where(participating_activity(A))
    )
    if activity_ids is not None:
        query = query.where(among(A.c.id, activity_ids))
    if structure_ids is not None:
        query = query.where(among(AST.c.structure_id, structure_ids))
    return query


def registration_participations(dialect: str, registration_ids=None, structure_ids=None):
    """Each structure present at an event that took place (not cancelled), once per programme of the event."""
    programmes = union(
        select(EP.c.event_id, EP.c.programme_id),
        select(EO.c.event_id, O.c.programme_id).join(O, O.c.id == EO.c.offer_id),
    ).subquery()
    query = (
        select(
            literal("registration"),
            R.c.id,
            R.c.structure_id,
            func.coalesce(programmes.c.programme_id, 0),
            paris_date(E.c.starts_at, dialect),
            func.coalesce(E.c.organiser_id, 0),
            S.c.department_code,
            _sector(),
            *_population(),
        )
        .select_from(
            _structure_join(R.join(E, E.c.id == R.c.event_id), R.c.structure_id).outerjoin(
                programmes, programmes.c.event_id == E.c.id
            )
        )
        .where(participating_registration(R, E))
    )
    if registration_ids is not None:
        query = query.where(among(R.c.id, registration_ids))
    if structure_ids is not None:
        query = query.where(among(R.c.structure_id, structure_ids))
    return query


def participation_days(structure_ids=None, days_between=None):
    """Sources summed per structure, day, programme and animator (``days_between``: only the days between
    these two dates, both included).

    The department and sector are the structure's: the same on all of its sources, except for a moment
    when an activity's event is processed after its structure moved and before the move's event, which
    then re-derives every source of the structure. Grouping by them would give that moment two rows for
    one key. The same goes for the structure's open dates."""
    src = m.ParticipationSource.__table__
    is_open = func.bool_or(src.c.structure_open) if _postgresql() else func.max(src.c.structure_open)
    query = select(
        src.c.structure_id,
        src.c.day,
        src.c.programme_id,
        src.c.animator_id,
        func.max(src.c.department_code),
        func.max(src.c.sector),
        func.max(src.c.opened_on),
        func.max(src.c.closed_on),
        is_open,
        func.count(),
    ).group_by(src.c.structure_id, src.c.day, src.c.programme_id, src.c.animator_id)
    if structure_ids is not None:
        query = query.where(among(src.c.structure_id, structure_ids))
    if days_between is not None:
        query = query.where(src.c.day.between(*days_between))
    return query


PARTICIPATION_DAY_COLUMNS = (
    "structure_id",
    "day",
    "programme_id",
    "animator_id",
    "department_code",
    "sector",
    *POPULATION_COLUMNS,
    "sources",
)


PERIOD_KINDS = ("mois", "trimestre", "annee")
PARTICIPATION_CELL_COLUMNS = (
    "period_kind",
    "period_start",
    "department_code",
    "sector",
    "programme_id",
    "animator_id",
    "structures",
)


def period_start(kind: str, column, dialect: str):
    """The first day of the calendar month, quarter or year of a date column."""
    if dialect == "postgresql":
        unit = {"mois": "month", "trimestre": "quarter", "annee": "year"}[kind]
        # Literals, not bound parameters: the expression is grouped by.
        return cast(func.date_trunc(literal_column(f"'{unit}'"), cast(column, DateTime)), Date)
    if kind == "mois":
        return func.date(column, literal_column("'start of month'"), type_=Date)
    if kind == "annee":
        return func.date(column, literal_column("'start of year'"), type_=Date)
    back = (cast(func.strftime(literal_column("'%m'"), column), Integer) - 1) % 3
    return func.date(
        column, literal_column("'start of month'"), func.printf(literal_column("'-%d months'"), back), type_=Date
    )


PERIOD_LENGTHS = {"mois": "1 month", "trimestre": "3 months", "annee": "1 year"}


def period_end(kind: str, start, dialect: str):
    """The last day of the calendar month, quarter or year starting on the date expression ``start``."""
    length = PERIOD_LENGTHS[kind]
    if dialect == "postgresql":
        return cast(start + literal_column(f"interval '{length}'") - literal_column("interval '1 day'"), Date)
    return func.date(start, literal_column(f"'+{length}'"), literal_column("'-1 day'"), type_=Date)


def participation_cells(kind: str, dialect: str):
    """Distinct structures per period of ``kind``, department and sector: for any programme and animator, per
    programme, per animator (the rebuild's; the worker moves the cells by deltas, see ``upkeep``). A
    structure counts in a period's cells only if it is in the period's population."""
    days = m.ParticipationDay.__table__
    start = period_start(kind, days.c.day, dialect)
    within = open_during(days, start, period_end(kind, start, dialect))
    any_ = literal_column(str(m.ANY))

    def split(programme, animator):
        # Distinct rows then count(*), rather than count(DISTINCT): PostgreSQL hashes the former and sorts
        # every group for the latter (three times faster over the national days).
        grouped = [column for column in (programme, animator) if column is not any_]
        structures = (
            select(start.label("period_start"), days.c.department_code, days.c.sector, *grouped, days.c.structure_id)
            .where(within)
            .distinct()
            .subquery()
        )
        columns = {
            "programme": structures.c.programme_id if programme is not any_ else any_,
            "animator": structures.c.animator_id if animator is not any_ else any_,
        }
        return select(
            literal_column(f"'{kind}'"),
            structures.c.period_start,
            structures.c.department_code,
            structures.c.sector,
            columns["programme"],
            columns["animator"],
            func.count(),
        ).group_by(
            structures.c.period_start,
            structures.c.department_code,
            structures.c.sector,
            *[column for column in columns.values() if column is not any_],
        )

    return union_all(split(any_, any_), split(days.c.programme_id, any_), split(any_, days.c.animator_id))


# --- opportunities: the transformation rate and the funnel -------------------------------------------

OPPORTUNITY_FACT_COLUMNS = (
    "opportunity_id",
    "structure_id",
    "identified_on",
    "department_code",
    "sector",
    "programme_id",
    "offer_id",
    "owner_id",
    "stage",
    "transformed",
    "reached_qualifiee",
    "reached_proposee",
    "identifiee_seconds",
    "qualifiee_seconds",
    "proposee_seconds",
)


def opportunity_facts(dialect: str, opportunity_ids=None, structure_ids=None):
    changes = select(
        SC.c.opportunity_id,
        SC.c.to_stage,
        SC.c.changed_at,
        func.lead(SC.c.changed_at)
        .over(partition_by=SC.c.opportunity_id, order_by=(SC.c.changed_at, SC.c.id))
        .label("left_at"),
    )
    if opportunity_ids is not None:
        changes = changes.where(among(SC.c.opportunity_id, opportunity_ids))
    elif structure_ids is not None:
        changes = changes.where(
            SC.c.opportunity_id.in_(select(OPP.c.id).where(among(OPP.c.structure_id, structure_ids)).scalar_subquery())
        )
    changes = changes.subquery()

    def time_in(stage):
        spent = seconds_between(changes.c.changed_at, changes.c.left_at, dialect)
        return cast(
            func.sum(case((and_(changes.c.to_stage == stage, changes.c.left_at.is_not(None)), spent))), BigInteger
        ).label(f"{stage}_seconds")

    def reached(*stages):
        return func.max(case((changes.c.to_stage.in_(stages), 1), else_=0)).label("reached_" + stages[0])

    per_opportunity = (
        select(
            changes.c.opportunity_id,
            reached("qualifiee", "proposee", "gagnee"),
            reached("proposee", "gagnee"),
            time_in("identifiee"),
            time_in("qualifiee"),
            time_in("proposee"),
        )
        .group_by(changes.c.opportunity_id)
        .subquery()
    )
    query = select(
        OPP.c.id,
        OPP.c.structure_id,
        OPP.c.identified_on,
        OPP.c.department_code,
        _sector(),
        OPP.c.programme_id,
        OPP.c.offer_id,
        func.coalesce(OPP.c.owner_id, 0),
        OPP.c.stage,
        transformed(OPP),
        func.coalesce(per_opportunity.c.reached_qualifiee, 0) == 1,
        func.coalesce(per_opportunity.c.reached_proposee, 0) == 1,
        per_opportunity.c.identifiee_seconds,
        per_opportunity.c.qualifiee_seconds,
        per_opportunity.c.proposee_seconds,
    ).select_from(
        _structure_join(OPP, OPP.c.structure_id).outerjoin(
            per_opportunity, per_opportunity.c.opportunity_id == OPP.c.id
        )
    )
    if opportunity_ids is not None:
        query = query.where(among(OPP.c.id, opportunity_ids))
    if structure_ids is not None:
        query = query.where(among(OPP.c.structure_id, structure_ids))
    return query


OPPORTUNITY_CELL_KEYS = ("identified_on", "department_code", "sector", "programme_id", "offer_id", "owner_id")
OPPORTUNITY_CELL_COLUMNS = OPPORTUNITY_CELL_KEYS + (
    "opportunities",
    "transformed",
    "won",
    "lost",
    "abandoned",
    "reached_qualifiee",
    "reached_proposee",
    "identifiee_seconds",
    "identifiee_left",
    "qualifiee_seconds",
    "qualifiee_left",
    "proposee_seconds",
    "proposee_left",
)


def opportunity_cells(day_departments=None):
    f = m.OpportunityFact.__table__

    def count_if(condition):
        return func.sum(case((condition, 1), else_=0))

    def seconds(stage):
        column = f.c[f"{stage}_seconds"]
        return (cast(func.coalesce(func.sum(column), 0), BigInteger), func.count(column))

    keys = [f.c[name] for name in OPPORTUNITY_CELL_KEYS]
    query = select(
        *keys,
        func.count(),
        count_if(f.c.transformed == true()),
        count_if(f.c.stage == "gagnee"),
        count_if(f.c.stage == "perdue"),
        count_if(f.c.stage == "abandonnee"),
        count_if(f.c.reached_qualifiee == true()),
        count_if(f.c.reached_proposee == true()),
        *seconds("identifiee"),
        *seconds("qualifiee"),
        *seconds("proposee"),
    ).group_by(*keys)
    if day_departments is not None:
        query = query.where(among_pairs([f.c.identified_on, f.c.department_code], day_departments))
    return query


# --- projects: engagement and structures accompanied -------------------------------------------------

PROJECT_FACT_COLUMNS = (
    "project_id",
    "structure_id",
    "department_code",
    "sector",
    "structure_open",
    "opened_on",
    "closed_on",
    "programme_id",
    "offer_id",
    "owner_id",
    "status",
    "started_on",
    "ended_on",
    "from_opportunity",
)


def project_facts(project_ids=None, structure_ids=None):
    query = select(
        P.c.id,
        P.c.structure_id,
        S.c.department_code,
        _sector(),
        S.c.is_open,
        S.c.opened_on,
        S.c.closed_on,
        P.c.programme_id,
        P.c.offer_id,
        func.coalesce(P.c.owner_id, 0),
        P.c.status,
        P.c.started_on,
        P.c.ended_on,
        case((P.c.opportunity_id.is_(None), false()), else_=true()),
    ).select_from(_structure_join(P, P.c.structure_id))
    if project_ids is not None:
        query = query.where(among(P.c.id, project_ids))
    if structure_ids is not None:
        query = query.where(among(P.c.structure_id, structure_ids))
    return query


ENGAGEMENT_COLUMNS = (
    "structure_id",
    "programme_id",
    "department_code",
    "sector",
    "structure_open",
    "opened_on",
    "closed_on",
    "since",
    "projects",
)


def engagements(structure_ids=None):
    f = m.ProjectFact.__table__
    # The open dates are the structure's, on all of its projects: max(), not a grouping key (participation_days).
    query = (
        select(
            f.c.structure_id,
            f.c.programme_id,
            f.c.department_code,
            f.c.sector,
            f.c.structure_open,
            func.max(f.c.opened_on),
            func.max(f.c.closed_on),
            func.min(f.c.started_on),
            func.count(),
        )
        .where(f.c.status.in_(ENGAGING_STATUSES))
        .group_by(f.c.structure_id, f.c.programme_id, f.c.department_code, f.c.sector, f.c.structure_open)
    )
    if structure_ids is not None:
        query = query.where(among(f.c.structure_id, structure_ids))
    return query


STRUCTURE_FACT_COLUMNS = ("structure_id", "department_code", "sector") + POPULATION_COLUMNS


def structure_facts(structure_ids=None):
    """Every structure, open or closed: the populations are read per period from their dates."""
    query = select(S.c.id, S.c.department_code, _sector(), *_population()).select_from(
        S.outerjoin(SEC, SEC.c.id == S.c.sector_id)
    )
    if structure_ids is not None:
        query = query.where(among(S.c.id, structure_ids))
    return query


# --- offers presented in activities ------------------------------------------------------------------

OFFER_PRESENTATION_COLUMNS = ("activity_id", "offer_id", "department_code", "programme_id", "day", "animator_id")


def _narrowed(query, link, key: str, ids, structure_ids):
    """``query`` over the ``link`` rows (a record's id in ``key``, a structure in ``structure_id``) of the
    records ``ids``, and of the records one of whose structures is among ``structure_ids``."""
    if ids is not None:
        query = query.where(among(link.c[key], ids))
    if structure_ids is not None:
        theirs = link.alias()
        query = query.where(
            link.c[key].in_(select(theirs.c[key]).where(among(theirs.c.structure_id, structure_ids)).scalar_subquery())
        )
    return query


def offer_presentations(activity_ids=None, structure_ids=None):
    # Distinct (activity, department) pairs first, then the offers: rows are unique by construction, no
    # DISTINCT over the 2.9 million joined rows of the national seed.
    departments = _narrowed(
        select(AST.c.activity_id, S.c.department_code)
        .select_from(AST.join(S, S.c.id == AST.c.structure_id))
        .distinct(),
        AST,
        "activity_id",
        activity_ids,
        structure_ids,
    ).subquery()
    query = select(
        A.c.id,
        AO.c.offer_id,
        departments.c.department_code,
        O.c.programme_id,
        A.c.occurred_on,
        func.coalesce(A.c.author_id, 0),
    ).select_from(
        departments.join(A, A.c.id == departments.c.activity_id)
        .join(AO, AO.c.activity_id == A.c.id)
        .join(O, O.c.id == AO.c.offer_id)
    )
    if activity_ids is not None:  # said again of the offers: else they may be read whole and hashed
        query = query.where(among(AO.c.activity_id, activity_ids), among(A.c.id, activity_ids))
    return query


OFFER_CELL_COLUMNS = ("day", "department_code", "programme_id", "offer_id", "animator_id", "presentations")


EVENTS_TAKEN_PLACE = ("publie", "clos")  # published or closed: a draft has not happened, a cancelled one will not


def event_offer_presentations(dialect: str, event_ids=None, structure_ids=None):
    """The offers of each event that took place, once per department of the people present."""
    department = func.coalesce(S.c.department_code, R.c.department_code)
    departments = _narrowed(
        select(R.c.event_id, department.label("department_code"))
        .select_from(R.outerjoin(S, S.c.id == R.c.structure_id))
        .where(R.c.status == "present", department.is_not(None))
        .distinct(),
        R,
        "event_id",
        event_ids,
        structure_ids,
    ).subquery()
    return (
        select(
            E.c.id,
            EO.c.offer_id,
            departments.c.department_code,
            O.c.programme_id,
            paris_date(E.c.starts_at, dialect),
            func.coalesce(E.c.organiser_id, 0),
        )
        .select_from(
            departments.join(E, E.c.id == departments.c.event_id)
            .join(EO, EO.c.event_id == E.c.id)
            .join(O, O.c.id == EO.c.offer_id)
        )
        .where(E.c.status.in_(EVENTS_TAKEN_PLACE))
    )


EVENT_OFFER_PRESENTATION_COLUMNS = ("event_id", "offer_id", "department_code", "programme_id", "day", "animator_id")


def all_offer_presentation_cells():
    """The cells over both facts: an activity's and an event's presentations add up in one cell."""
    keys = ("day", "department_code", "programme_id", "offer_id", "animator_id")
    activities, events = m.OfferPresentation.__table__, m.EventOfferPresentation.__table__
    both = union_all(select(*[activities.c[k] for k in keys]), select(*[events.c[k] for k in keys])).subquery()
    return offer_presentation_cells(both)


def offer_presentation_cells(facts=None):
    f = m.OfferPresentation.__table__ if facts is None else facts
    return select(f.c.day, f.c.department_code, f.c.programme_id, f.c.offer_id, f.c.animator_id, func.count()).group_by(
        f.c.day, f.c.department_code, f.c.programme_id, f.c.offer_id, f.c.animator_id
    )


# --- events ------------------------------------------------------------------------------------------

EVENT_FACT_COLUMNS = (
    "event_id",
    "type_code",
    "status",
    "department_code",
    "organiser_id",
    "series_id",
    "starts_on",
    "registered",
    "waiting",
    "cancelled",
    "present",
    "absent",
    "structures_present",
    "answers",
    "useful",
    "score_sum",
)


def event_facts(dialect: str, event_ids=None):
    def count_if(*statuses):
        return func.sum(case((R.c.status.in_(statuses), 1), else_=0))

    registrations = select(
        R.c.event_id,
        count_if(*SEAT_HOLDERS).label("registered"),
        count_if("attente").label("waiting"),
        count_if("annule").label("cancelled"),
        count_if("present").label("present"),
        count_if("absent").label("absent"),
        func.count(func.distinct(case((R.c.status == "present", R.c.structure_id)))).label("structures_present"),
    ).group_by(R.c.event_id)
    answers = select(
        SR.c.event_id,
        func.count().label("answers"),
        func.sum(case((SR.c.useful == true(), 1), else_=0)).label("useful"),
        func.sum(SR.c.score).label("score_sum"),
    ).group_by(SR.c.event_id)
    if event_ids is not None:
        registrations = registrations.where(among(R.c.event_id, event_ids))
        answers = answers.where(among(SR.c.event_id, event_ids))
    registrations, answers = registrations.subquery(), answers.subquery()

    def zero(column):
        return func.coalesce(column, 0)

    query = select(
        E.c.id,
        ET.c.code,
        E.c.status,
        func.coalesce(E.c.department_code, literal_column("''")),
        func.coalesce(E.c.organiser_id, 0),
        func.coalesce(E.c.series_id, 0),
        paris_date(E.c.starts_at, dialect),
        zero(registrations.c.registered),
        zero(registrations.c.waiting),
        zero(registrations.c.cancelled),
        zero(registrations.c.present),
        zero(registrations.c.absent),
        zero(registrations.c.structures_present),
        zero(answers.c.answers),
        zero(answers.c.useful),
        zero(answers.c.score_sum),
    ).select_from(
        E.join(ET, ET.c.id == E.c.type_id)
        .outerjoin(registrations, registrations.c.event_id == E.c.id)
        .outerjoin(answers, answers.c.event_id == E.c.id)
    )
    if event_ids is not None:
        query = query.where(among(E.c.id, event_ids))
    return query
