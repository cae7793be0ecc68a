"""Keeping the indicators' read model in step with the records (see :mod:`crm.indicators.readmodel.models`).

* :func:`apply_events` is called by the outbox dispatcher for each batch of events, inside the
  batch's transaction: it works out which records the events touched, re-derives their facts
  (delete + insert) and recomputes the cells whose facts changed. Re-deriving from the records, not
  adding deltas from payloads, is what makes it idempotent and order-independent: an event
  processed twice, or two events processed out of order, leave the same rows.
* An event whose effect cannot be narrowed to records (``REBUILD_TRIGGERS``) re-derives everything
  (:mod:`crm.indicators.readmodel.rebuild`, which also serves ``crm indicators rebuild``; the
  comparison of ``crm indicators check`` is :mod:`crm.indicators.readmodel.check`).

Concurrent workers' maintenance is serialised by :func:`~crm.indicators.readmodel.tables.lock`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from sqlalchemy import Date, Integer, bindparam, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from crm.indicators.definitions import was_open_during
from crm.indicators.periods import month, quarter, year
from crm.indicators.readmodel import deployment as deployment_cells
from crm.indicators.readmodel import derivations as d
from crm.indicators.readmodel import models as m
from crm.indicators.readmodel import usage as usage_cells
from crm.indicators.readmodel.rebuild import rebuild_all
from crm.indicators.readmodel.tables import CHUNK, chunks, dialect_name, insert_derived, lock
from crm.platform.extensions import db
from crm.platform.locking import INDICATOR_ACTIVITY, INDICATOR_STRUCTURE, advisory_locks

# Event types whose effect cannot be narrowed to records (an offer moved to another programme...).
REBUILD_TRIGGERS = {"reference.changed"}


@dataclass
class Touched:
    activities: set[int] = field(default_factory=set)
    registrations: set[int] = field(default_factory=set)
    events: set[int] = field(default_factory=set)  # their figures, and every registration's participation
    opportunities: set[int] = field(default_factory=set)
    projects: set[int] = field(default_factory=set)
    structures: set[int] = field(default_factory=set)
    deployment: list = field(default_factory=list)  # the services' deployment and usage events (issue 14)
    rebuild: bool = False

    @property
    def activities_only(self) -> bool:
        return bool(self.activities) and not (
            self.rebuild or self.registrations or self.events or self.opportunities or self.projects or self.structures
        )

    def add_event(self, event) -> None:
        kind, record_id, payload = event.aggregate_type, event.aggregate_id, event.payload or {}
        if event.type in REBUILD_TRIGGERS:
            self.rebuild = True
        elif kind == "activity":
            self.activities.add(record_id)
        elif kind == "registration":
            self.registrations.add(record_id)
            if payload.get("event_id"):
                self.events.add(payload["event_id"])
        elif kind == "event":
            self.events.add(record_id)
        elif kind == "opportunity":
            self.opportunities.add(record_id)
        elif kind == "project":
            self.projects.add(record_id)
            if payload.get("opportunity_id"):
                self.opportunities.add(payload["opportunity_id"])
        elif kind == "structure":
            self.structures.add(record_id)
            self.deployment.append(event)
        elif kind in ("structure_deployment", "eligibility_override", "offer_deployment_settings", "offer_usage"):
            self.deployment.append(event)
        for name in ("from_opportunity_id",):  # a project moved between opportunities
            if payload.get(name):
                self.opportunities.add(payload[name])


# --- replacing facts, recomputing cells ----------------------------------------------------------------


def _replace_facts(model, where, columns, query, key_columns) -> set[tuple]:
    """Delete the facts matching ``where``, insert the derived ones; returns the keys of the cells
    concerned before and after (so that both old and new cells get recomputed)."""
    table = model.__table__
    keys = [table.c[name] for name in key_columns]
    # The keys come back from the DELETE and the INSERT themselves: two round trips instead of four.
    touched = set(db.session.execute(delete(table).where(where).returning(*keys)).all())
    touched |= set(db.session.execute(insert(table).from_select(list(columns), query).returning(*keys)).all())
    return {tuple(row) for row in touched}


def _participations(touched: Touched) -> None:
    """Re-derive the participation sources of the touched records, then the days of their structures in the
    years whose sources changed, and move the cells by the structures that entered or left them: a batch
    costs what its structures' days do, not what the (department, period) cells it touches hold."""
    src = m.ParticipationSource.__table__
    dialect = dialect_name()
    pairs: set[tuple] = set()  # (structure_id, day) whose sources changed
    for ids in chunks(touched.activities):
        where = (src.c.source_type == "activity") & d.among(src.c.source_id, ids)
        pairs |= _replace_facts(
            m.ParticipationSource,
            where,
            d.PARTICIPATION_COLUMNS,
            d.activity_participations(activity_ids=ids),
            ("structure_id", "day"),
        )
    registrations = set(touched.registrations)
    if touched.events:
        registrations |= set(db.session.scalars(select(d.R.c.id).where(d.among(d.R.c.event_id, touched.events))))
    for ids in chunks(registrations):
        where = (src.c.source_type == "registration") & d.among(src.c.source_id, ids)
        pairs |= _replace_facts(
            m.ParticipationSource,
            where,
            d.PARTICIPATION_COLUMNS,
            d.registration_participations(dialect, registration_ids=ids),
            ("structure_id", "day"),
        )
    # A structure that changed (department, sector, closed, deleted): all of its sources, and below its days.
    structure_chunks = list(chunks(touched.structures))
    for ids in structure_chunks:
        db.session.execute(delete(src).where(d.among(src.c.structure_id, ids)))
        insert_derived(m.ParticipationSource, d.PARTICIPATION_COLUMNS, d.activity_participations(structure_ids=ids))
        insert_derived(
            m.ParticipationSource, d.PARTICIPATION_COLUMNS, d.registration_participations(dialect, structure_ids=ids)
        )
    # Every day of a structure that changed; else, per calendar year (the widest period a cell counts over),
    # the structures whose sources changed that year: only the days that changed are re-derived, and the
    # cells can move only in the periods of those days, whose memberships are read from the year's days.
    if touched.activities_only:
        advisory_locks(INDICATOR_STRUCTURE, {structure_id for structure_id, _ in pairs})
    groups: list[tuple] = [(ids, None, None) for ids in structure_chunks]
    by_year: dict[int, dict[int, set[date]]] = {}
    for structure_id, day in pairs:
        if structure_id not in touched.structures:
            day = _as_date(day)
            by_year.setdefault(day.year, {}).setdefault(structure_id, set()).add(day)
    for year_number, changed in sorted(by_year.items()):
        year_days = (date(year_number, 1, 1), date(year_number, 12, 31))
        for ids in chunks(changed):
            groups.append((ids, year_days, {structure_id: changed[structure_id] for structure_id in ids}))
    deltas: Counter = Counter()
    for ids, days_between, changed in groups:
        # A membership can only come or go if a deleted or an inserted row gives it, and it stays if a row
        # left alone gives it too: those rows are read only for the structures of such memberships.
        deleted, inserted = _replace_days(ids, days_between, changed)
        periods = None
        if changed is not None:
            periods = {
                structure_id: {period[:2] for day in days for period in _periods(day)}
                for structure_id, days in changed.items()
            }
        left = _memberships(deleted, periods)
        entered = _memberships(inserted, periods)
        moved = left ^ entered
        if moved:
            rows = _day_rows(sorted({membership[-1] for membership in moved}), days_between)
            for key in {row[:4] for row in inserted}:
                rows.pop(key, None)
            kept = _memberships(rows.values(), periods, among=moved)
            for membership in entered - left - kept:
                deltas[membership[:-1]] += 1
            for membership in left - entered - kept:
                deltas[membership[:-1]] -= 1
    _apply_cell_deltas(m.ParticipationCell, "structures", deltas)


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


PERIODS_OF_KIND = {"mois": month, "trimestre": quarter, "annee": lambda day: year(day.year)}


@lru_cache(maxsize=4096)
def _periods(day: date) -> tuple[tuple[str, date, date], ...]:
    return tuple((kind, PERIODS_OF_KIND[kind](day).start, PERIODS_OF_KIND[kind](day).end) for kind in d.PERIOD_KINDS)


# A day row as the memberships read it: its key (structure, day, programme, animator) first.
DAY_ROW = (
    "structure_id",
    "day",
    "programme_id",
    "animator_id",
    "department_code",
    "sector",
    "opened_on",
    "closed_on",
    "structure_open",
)


def _day_rows(structure_ids, days_between) -> dict[tuple, tuple]:
    """The days of these structures (all, or those between two dates), by key; fetched at once (row by row
    cost a tenth of the batch)."""
    days = m.ParticipationDay.__table__
    where = d.among(days.c.structure_id, structure_ids)
    if days_between is not None:
        where = where & days.c.day.between(*days_between)
    rows = db.session.execute(select(*[days.c[name] for name in DAY_ROW]).where(where)).all()
    return {tuple(row[:4]): tuple(row) for row in rows}


def _replace_days(structure_ids, days_between, changed: dict[int, set[date]] | None) -> tuple[list, list]:
    """Re-derive the days of these structures: all of them, those between two dates, or the days ``changed``
    of each (on SQLite, every one of the days of any of them); returns the rows deleted and inserted.

    On PostgreSQL the changed (structure, day) pairs are joined as two arrays unnested side by side, which the
    (structure, day) indexes read pair by pair: any of the structures on any of the days read, at national
    scale, twenty times the rows for a batch of dates scattered over a year."""
    days = m.ParticipationDay.__table__
    src = m.ParticipationSource.__table__
    returned = [days.c[name] for name in DAY_ROW]
    derived = d.participation_days(structure_ids=structure_ids, days_between=days_between)
    remove = delete(days).where(d.among(days.c.structure_id, structure_ids))
    if days_between is not None:
        remove = remove.where(days.c.day.between(*days_between))
    if changed is not None:
        pairs = sorted((structure_id, day) for structure_id, days_of in changed.items() for day in days_of)
        if dialect_name() == "postgresql":
            # By the pairs alone: with the structures' and the year's conditions too, PostgreSQL reads all
            # their days of the year and hashes the pairs.
            keys = d.unnested_pairs(pairs, (Integer, Date))
            remove = delete(days).where(days.c.structure_id == keys.c[0], days.c.day == keys.c[1])
            derived = d.participation_days().where(src.c.structure_id == keys.c[0], src.c.day == keys.c[1])
        else:
            all_days = sorted({day for _, day in pairs})
            remove = remove.where(d.among(days.c.day, all_days))
            derived = derived.where(d.among(src.c.day, all_days))
    deleted = db.session.execute(remove.returning(*returned)).all()
    inserted = db.session.execute(
        insert(days).from_select(list(d.PARTICIPATION_DAY_COLUMNS), derived).returning(*returned)
    ).all()
    return [tuple(row) for row in deleted], [tuple(row) for row in inserted]


def _memberships(rows, periods=None, among: set | None = None) -> set[tuple]:
    """The participation cells the structures of these day rows (``DAY_ROW``) count in: one ``(kind, period
    start, department, sector, programme, animator, structure)`` per cell and structure, with ``ANY`` where the
    cell counts over all programmes or animators (as ``participation_cells`` groups them), for the periods
    whose population the structure is in; ``periods``: only the periods (kind, start) given per structure;
    ``among``: only these memberships (and the rows of their structures)."""
    out = set()
    structures = None if among is None else {membership[-1] for membership in among}
    for structure_id, day, programme_id, animator_id, department, sector, opened_on, closed_on, is_open in rows:
        if structures is not None and structure_id not in structures:
            continue
        opened_on = None if opened_on is None else _as_date(opened_on)
        closed_on = None if closed_on is None else _as_date(closed_on)
        wanted = None if periods is None else periods[structure_id]
        for kind, start, end in _periods(_as_date(day)):
            if wanted is not None and (kind, start) not in wanted:
                continue
            if not was_open_during(opened_on, closed_on, is_open, start, end):
                continue
            out.add((kind, start, department, sector, m.ANY, m.ANY, structure_id))
            out.add((kind, start, department, sector, programme_id, m.ANY, structure_id))
            out.add((kind, start, department, sector, m.ANY, animator_id, structure_id))
    return out if among is None else out & among


def _apply_cell_deltas(model, value: str, deltas: Counter) -> None:
    """Add to each cell of ``model`` (keyed by its primary key, in order) its change of ``value``; a cell left at
    zero is deleted (a rebuild has no such row).

    The cells change by what entered or left them: the participation cells by the structures whose
    memberships changed, the offer cells by the presentations replaced. Recounting the cells instead read
    every fact of each (department, period) a batch touched: seconds for a batch of scattered dates.
    """
    # In one order for every batch: two batches moving the same cells side by side wait, never deadlock.
    changed = sorted(
        ((key, delta) for key, delta in deltas.items() if delta), key=lambda item: tuple(map(str, item[0]))
    )
    if not changed:
        return
    cells = model.__table__
    names = [column.name for column in cells.primary_key.columns]
    upsert = postgresql.insert(cells) if dialect_name() == "postgresql" else sqlite.insert(cells)
    upsert = upsert.on_conflict_do_update(
        index_elements=[cells.c[name] for name in names], set_={value: cells.c[value] + upsert.excluded[value]}
    )
    rows = [{**dict(zip(names, key)), value: delta} for key, delta in changed]
    for start in range(0, len(rows), CHUNK):
        db.session.execute(upsert, rows[start : start + CHUNK])
    emptied = [dict(zip(names, key)) for key, delta in changed if delta < 0]
    if emptied:
        db.session.execute(
            delete(cells).where(*[cells.c[name] == bindparam(name) for name in names], cells.c[value] <= 0), emptied
        )


def _recompute_cells(model, key_columns, columns, derive, keys: set[tuple]) -> None:
    table = model.__table__
    for chunk in chunks(keys, 1000):
        db.session.execute(delete(table).where(d.among_pairs([table.c[k] for k in key_columns], chunk)))
        insert_derived(model, columns, derive(chunk))


def _opportunities(touched: Touched) -> None:
    facts = m.OpportunityFact.__table__
    dialect = dialect_name()
    keys: set[tuple] = set()
    opportunity_ids = set(touched.opportunities)
    if touched.structures:
        # From the records, and from the facts: an opportunity deleted with its structure has facts only.
        opportunity_ids |= set(
            db.session.scalars(select(d.OPP.c.id).where(d.among(d.OPP.c.structure_id, touched.structures)))
        )
        opportunity_ids |= set(
            db.session.scalars(select(facts.c.opportunity_id).where(d.among(facts.c.structure_id, touched.structures)))
        )
    for ids in chunks(opportunity_ids):
        keys |= _replace_facts(
            m.OpportunityFact,
            d.among(facts.c.opportunity_id, ids),
            d.OPPORTUNITY_FACT_COLUMNS,
            d.opportunity_facts(dialect, opportunity_ids=ids),
            ("identified_on", "department_code"),
        )
    _recompute_cells(
        m.OpportunityCell, ("identified_on", "department_code"), d.OPPORTUNITY_CELL_COLUMNS, d.opportunity_cells, keys
    )


def _projects(touched: Touched) -> None:
    facts = m.ProjectFact.__table__
    structures: set[int] = set()
    project_ids = set(touched.projects)
    if touched.structures:
        project_ids |= set(db.session.scalars(select(d.P.c.id).where(d.among(d.P.c.structure_id, touched.structures))))
        project_ids |= set(
            db.session.scalars(select(facts.c.project_id).where(d.among(facts.c.structure_id, touched.structures)))
        )
    for ids in chunks(project_ids):
        structures |= {
            key[0]
            for key in _replace_facts(
                m.ProjectFact,
                d.among(facts.c.project_id, ids),
                d.PROJECT_FACT_COLUMNS,
                d.project_facts(project_ids=ids),
                ("structure_id",),
            )
        }
    table = m.Engagement.__table__
    for ids in chunks(structures):
        db.session.execute(delete(table).where(d.among(table.c.structure_id, ids)))
        insert_derived(m.Engagement, d.ENGAGEMENT_COLUMNS, d.engagements(structure_ids=ids))


def _offer_presentations(touched: Touched) -> None:
    facts = m.OfferPresentation.__table__
    activity_ids = set(touched.activities)
    if touched.structures:
        activity_ids |= set(
            db.session.scalars(select(d.AST.c.activity_id).where(d.among(d.AST.c.structure_id, touched.structures)))
        )
    # The presentations replaced, per cell (as ``offer_presentation_cells`` counts them), from the DELETE and
    # the INSERT themselves.
    cell = [facts.c[name] for name in d.OFFER_CELL_COLUMNS[:-1]]
    deltas: Counter = Counter()
    for ids in chunks(activity_ids):
        where = d.among(facts.c.activity_id, ids)
        deltas.subtract(Counter(tuple(row) for row in db.session.execute(delete(facts).where(where).returning(*cell))))
        inserted = insert(facts).from_select(
            list(d.OFFER_PRESENTATION_COLUMNS), d.offer_presentations(activity_ids=ids)
        )
        deltas.update(Counter(tuple(row) for row in db.session.execute(inserted.returning(*cell))))
    _apply_cell_deltas(m.OfferPresentationCell, "presentations", deltas)


def _presentations_per_cell(where, facts=None) -> Counter:
    """The offer presentations of the facts matching ``where``, per cell (as ``offer_presentation_cells`` counts)."""
    rows = db.session.execute(d.offer_presentation_cells(facts).where(where))
    return Counter({tuple(row[:-1]): row[-1] for row in rows})


def _event_offer_presentations(touched: Touched) -> None:
    """The offers of the touched events (their status, offers or attendance changed), moved into the same
    cells as the activities' by the presentations replaced."""
    facts = m.EventOfferPresentation.__table__
    event_ids = set(touched.events)
    if touched.structures:  # a structure that moved takes its department's presentations along
        event_ids |= set(
            db.session.scalars(select(d.R.c.event_id).where(d.among(d.R.c.structure_id, touched.structures)))
        )
    deltas: Counter = Counter()
    for ids in chunks(event_ids):
        where = d.among(facts.c.event_id, ids)
        deltas.subtract(_presentations_per_cell(where, facts))
        db.session.execute(delete(facts).where(where))
        insert_derived(
            m.EventOfferPresentation,
            d.EVENT_OFFER_PRESENTATION_COLUMNS,
            d.event_offer_presentations(dialect_name(), event_ids=ids),
        )
        deltas.update(_presentations_per_cell(where, facts))
    _apply_cell_deltas(m.OfferPresentationCell, "presentations", deltas)


def _events(touched: Touched) -> None:
    facts = m.EventFact.__table__
    for ids in chunks(touched.events):
        db.session.execute(delete(facts).where(d.among(facts.c.event_id, ids)))
        insert_derived(m.EventFact, d.EVENT_FACT_COLUMNS, d.event_facts(dialect_name(), event_ids=ids))


def _structures(touched: Touched) -> None:
    """Re-derive the facts of the structures touched (the denominators count them per period)."""
    facts = m.StructureFact.__table__
    for ids in chunks(touched.structures):
        db.session.execute(delete(facts).where(d.among(facts.c.structure_id, ids)))
        insert_derived(m.StructureFact, d.STRUCTURE_FACT_COLUMNS, d.structure_facts(structure_ids=ids))


def _structure_departments(touched: Touched) -> dict[int, set[str]]:
    """Each touched structure's department as the read model knew it (a move leaves its old department)."""
    departments: dict[int, set[str]] = {}
    facts = m.StructureFact.__table__
    for ids in chunks(touched.structures):
        for structure_id, department in db.session.execute(
            select(facts.c.structure_id, facts.c.department_code).where(d.among(facts.c.structure_id, ids))
        ):
            departments.setdefault(structure_id, set()).add(department)
    return departments


def _deployment(touched: Touched, departments_before: dict[int, set[str]]) -> None:
    """Recompute the deployment and usage cells the batch touched (the services' deployment, issue 14)."""
    if not touched.deployment:
        return
    facts = m.StructureFact.__table__
    departments = {k: set(v) for k, v in departments_before.items()}
    for ids in chunks(touched.structures):
        for structure_id, department in db.session.execute(
            select(facts.c.structure_id, facts.c.department_code).where(d.among(facts.c.structure_id, ids))
        ):
            departments.setdefault(structure_id, set()).add(department)
    keys: set = set()
    scopes: set = set()
    for event in touched.deployment:
        if event.aggregate_type == "structure" and (event.payload or {}).get("department"):
            departments.setdefault(event.aggregate_id, set()).add(event.payload["department"])
        keys |= deployment_cells.keys_of_event(event, departments)
        scopes |= usage_cells.scopes_of_event(event, departments)
    deployment_cells.recompute(keys)
    usage_cells.recompute(scopes)


# --- the entry points ----------------------------------------------------------------------------------


def apply_events(events) -> Touched:
    """Bring the read model in step with what ``events`` changed (the caller commits)."""
    touched = Touched()
    for event in events:
        touched.add_event(event)
    if not (
        touched.rebuild
        or touched.activities
        or touched.registrations
        or touched.events
        or touched.opportunities
        or touched.projects
        or touched.structures
        or touched.deployment
    ):
        return touched
    if touched.activities_only:
        # Beside other batches of activity events: each holds the activities it re-derives, then the structures
        # whose days it re-derives (``_participations``), so that none reads another's days before they commit;
        # the cells move by deltas, which add up in any order.
        lock(shared=True)
        advisory_locks(INDICATOR_ACTIVITY, touched.activities)
    else:
        lock()
    if touched.rebuild:
        rebuild_all()
        return touched
    departments_before = _structure_departments(touched)  # before _structures re-derives them
    _structures(touched)
    _deployment(touched, departments_before)
    _participations(touched)
    _opportunities(touched)
    _projects(touched)
    _offer_presentations(touched)
    _event_offer_presentations(touched)
    _events(touched)
    return touched


__all__ = ["Touched", "apply_events"]
