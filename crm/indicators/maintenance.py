"""Keeping the indicators' read model in step with the records (see :mod:`crm.indicators.models`).

* :func:`apply_events` is called by the outbox dispatcher for each batch of events, inside the
  batch's transaction: it works out which records the events touched, re-derives their facts
  (delete + insert) and recomputes the cells whose facts changed. Re-deriving from the records, not
  adding deltas from payloads, is what makes it idempotent and order-independent: an event
  processed twice, or two events processed out of order, leave the same rows.
* :func:`rebuild` derives everything (``crm indicators rebuild``); :func:`check` rebuilds inside a
  transaction it rolls back and reports every row that differs (``crm indicators check``).

On PostgreSQL the maintenance of concurrent workers is serialised by a transaction-level advisory
lock, so that two batches touching the same structure cannot interleave their delete/insert.
"""
from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from sqlalchemy import bindparam, delete, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import AddConstraint, CreateIndex, DropConstraint, DropIndex

from crm.core.locking import INDICATOR_MAINTENANCE, advisory_lock
from crm.core.models import utcnow
from crm.extensions import db
from crm.indicators import derivations as d
from crm.indicators import models as m
from crm.indicators.periods import month, quarter, year
from crm.indicators.population import was_open_during

CHUNK = 5000  # ids per statement: keeps IN lists within every driver's limits

FACT_AND_CELL_TABLES = (
    m.ParticipationSource, m.ParticipationDay, m.ParticipationCell, m.OpportunityFact, m.OpportunityCell, m.ProjectFact,
    m.Engagement, m.StructureFact, m.OfferPresentation, m.EventOfferPresentation, m.OfferPresentationCell, m.EventFact,
)
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
    rebuild: bool = False

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
        for name in ("from_opportunity_id",):  # a project moved between opportunities
            if payload.get(name):
                self.opportunities.add(payload[name])


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _lock() -> None:
    advisory_lock(INDICATOR_MAINTENANCE, on_sqlite=False)


def _chunks(values: Iterable, size: int = CHUNK):
    values = sorted(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _insert(model, columns, query) -> None:
    db.session.execute(insert(model.__table__).from_select(list(columns), query))


# --- replacing facts, recomputing cells ----------------------------------------------------------------

def _replace_facts(model, where, columns, query, key_columns) -> set[tuple]:
    """Delete the facts matching ``where``, insert the derived ones; returns the keys of the cells
    concerned before and after (so that both old and new cells get recomputed)."""
    table = model.__table__
    keys = [table.c[name] for name in key_columns]
    touched = set(db.session.execute(select(*keys).where(where).distinct()).all())
    db.session.execute(delete(table).where(where))
    _insert(model, columns, query)
    touched |= set(db.session.execute(select(*keys).where(where).distinct()).all())
    return {tuple(row) for row in touched}


def _participations(touched: Touched) -> None:
    """Re-derive the participation sources of the touched records, then the days of their structures in the
    years whose sources changed, and move the cells by the structures that entered or left them: a batch
    costs what its structures' days do, not what the (department, period) cells it touches hold."""
    src = m.ParticipationSource.__table__
    dialect = _dialect()
    pairs: set[tuple] = set()  # (structure_id, day) whose sources changed
    for ids in _chunks(touched.activities):
        where = (src.c.source_type == "activity") & d.among(src.c.source_id, ids)
        pairs |= _replace_facts(m.ParticipationSource, where, d.PARTICIPATION_COLUMNS,
                                d.activity_participations(activity_ids=ids), ("structure_id", "day"))
    registrations = set(touched.registrations)
    if touched.events:
        registrations |= set(db.session.scalars(select(d.R.c.id).where(d.among(d.R.c.event_id, touched.events))))
    for ids in _chunks(registrations):
        where = (src.c.source_type == "registration") & d.among(src.c.source_id, ids)
        pairs |= _replace_facts(m.ParticipationSource, where, d.PARTICIPATION_COLUMNS,
                                d.registration_participations(dialect, registration_ids=ids), ("structure_id", "day"))
    # A structure that changed (department, sector, closed, deleted): all of its sources, and below its days.
    structure_chunks = list(_chunks(touched.structures))
    for ids in structure_chunks:
        db.session.execute(delete(src).where(d.among(src.c.structure_id, ids)))
        _insert(m.ParticipationSource, d.PARTICIPATION_COLUMNS, d.activity_participations(structure_ids=ids))
        _insert(m.ParticipationSource, d.PARTICIPATION_COLUMNS,
                d.registration_participations(dialect, structure_ids=ids))
    groups = [(ids, None) for ids in structure_chunks]
    pairs = {(structure_id, _as_date(day)) for structure_id, day in pairs if structure_id not in touched.structures}
    if pairs:  # the days of the years concerned (a year is the widest period a cell counts over)
        years = (date(min(day for _, day in pairs).year, 1, 1), date(max(day for _, day in pairs).year, 12, 31))
        groups += [(ids, years) for ids in _chunks({structure_id for structure_id, _ in pairs})]
    deltas: Counter = Counter()
    for ids, days_between in groups:
        before = _memberships(ids, days_between)
        _replace_days(ids, days_between)
        after = _memberships(ids, days_between)
        for membership in after - before:
            deltas[membership[:-1]] += 1
        for membership in before - after:
            deltas[membership[:-1]] -= 1
    _apply_cell_deltas(m.ParticipationCell, "structures", deltas)


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


PERIODS_OF_KIND = {"mois": month, "trimestre": quarter, "annee": lambda day: year(day.year)}


@lru_cache(maxsize=4096)
def _periods(day: date) -> tuple[tuple[str, date, date], ...]:
    return tuple((kind, PERIODS_OF_KIND[kind](day).start, PERIODS_OF_KIND[kind](day).end) for kind in d.PERIOD_KINDS)


def _days_where(structure_ids, days_between):
    days = m.ParticipationDay.__table__
    where = d.among(days.c.structure_id, structure_ids)
    return where if days_between is None else where & days.c.day.between(*days_between)


def _replace_days(structure_ids, days_between) -> None:
    db.session.execute(delete(m.ParticipationDay.__table__).where(_days_where(structure_ids, days_between)))
    _insert(m.ParticipationDay, d.PARTICIPATION_DAY_COLUMNS,
            d.participation_days(structure_ids=structure_ids, days_between=days_between))


def _memberships(structure_ids, days_between) -> set[tuple]:
    """The participation cells these structures count in, from their days (all of them, or those between two
    dates): one ``(kind, period start, department, sector, programme, animator, structure)`` per cell and
    structure, with ``ANY`` where the cell counts over all programmes or animators (as ``participation_cells``
    groups them), for the periods whose population the structure is in."""
    days = m.ParticipationDay.__table__
    rows = db.session.execute(select(days.c.structure_id, days.c.day, days.c.department_code, days.c.sector,
                                     days.c.programme_id, days.c.animator_id, days.c.opened_on, days.c.closed_on,
                                     days.c.structure_open)
                              .where(_days_where(structure_ids, days_between)))
    out = set()
    for structure_id, day, department, sector, programme_id, animator_id, opened_on, closed_on, is_open in rows:
        opened_on = None if opened_on is None else _as_date(opened_on)
        closed_on = None if closed_on is None else _as_date(closed_on)
        for kind, start, end in _periods(_as_date(day)):
            if not was_open_during(opened_on, closed_on, is_open, start, end):
                continue
            out.add((kind, start, department, sector, m.ANY, m.ANY, structure_id))
            out.add((kind, start, department, sector, programme_id, m.ANY, structure_id))
            out.add((kind, start, department, sector, m.ANY, animator_id, structure_id))
    return out


def _apply_cell_deltas(model, value: str, deltas: Counter) -> None:
    """Add to each cell of ``model`` (keyed by its primary key, in order) its change of ``value``; a cell left at
    zero is deleted (a rebuild has no such row).

    The cells change by what entered or left them: the participation cells by the structures whose
    memberships changed, the offer cells by the presentations replaced. Recounting the cells instead read
    every fact of each (department, period) a batch touched: seconds for a batch of scattered dates.
    """
    changed = [(key, delta) for key, delta in deltas.items() if delta]
    if not changed:
        return
    cells = model.__table__
    names = [column.name for column in cells.primary_key.columns]
    upsert = postgresql.insert(cells) if _dialect() == "postgresql" else sqlite.insert(cells)
    upsert = upsert.on_conflict_do_update(index_elements=[cells.c[name] for name in names],
                                          set_={value: cells.c[value] + upsert.excluded[value]})
    rows = [{**dict(zip(names, key)), value: delta} for key, delta in changed]
    for start in range(0, len(rows), CHUNK):
        db.session.execute(upsert, rows[start:start + CHUNK])
    emptied = [dict(zip(names, key)) for key, delta in changed if delta < 0]
    if emptied:
        db.session.execute(delete(cells).where(*[cells.c[name] == bindparam(name) for name in names],
                                               cells.c[value] <= 0), emptied)


def _recompute_cells(model, key_columns, columns, derive, keys: set[tuple]) -> None:
    table = model.__table__
    for chunk in _chunks(keys, 1000):
        db.session.execute(delete(table).where(d.among_pairs([table.c[k] for k in key_columns], chunk)))
        _insert(model, columns, derive(chunk))


def _opportunities(touched: Touched) -> None:
    facts = m.OpportunityFact.__table__
    dialect = _dialect()
    keys: set[tuple] = set()
    opportunity_ids = set(touched.opportunities)
    if touched.structures:
        # From the records, and from the facts: an opportunity deleted with its structure has facts only.
        opportunity_ids |= set(db.session.scalars(select(d.OPP.c.id).where(
            d.among(d.OPP.c.structure_id, touched.structures))))
        opportunity_ids |= set(db.session.scalars(select(facts.c.opportunity_id).where(
            d.among(facts.c.structure_id, touched.structures))))
    for ids in _chunks(opportunity_ids):
        keys |= _replace_facts(m.OpportunityFact, d.among(facts.c.opportunity_id, ids), d.OPPORTUNITY_FACT_COLUMNS,
                               d.opportunity_facts(dialect, opportunity_ids=ids),
                               ("identified_on", "department_code"))
    _recompute_cells(m.OpportunityCell, ("identified_on", "department_code"), d.OPPORTUNITY_CELL_COLUMNS,
                     d.opportunity_cells, keys)


def _projects(touched: Touched) -> None:
    facts = m.ProjectFact.__table__
    structures: set[int] = set()
    project_ids = set(touched.projects)
    if touched.structures:
        project_ids |= set(db.session.scalars(select(d.P.c.id).where(d.among(d.P.c.structure_id, touched.structures))))
        project_ids |= set(db.session.scalars(select(facts.c.project_id).where(
            d.among(facts.c.structure_id, touched.structures))))
    for ids in _chunks(project_ids):
        structures |= {key[0] for key in _replace_facts(m.ProjectFact, d.among(facts.c.project_id, ids),
                                                         d.PROJECT_FACT_COLUMNS, d.project_facts(project_ids=ids),
                                                         ("structure_id",))}
    table = m.Engagement.__table__
    for ids in _chunks(structures):
        db.session.execute(delete(table).where(d.among(table.c.structure_id, ids)))
        _insert(m.Engagement, d.ENGAGEMENT_COLUMNS, d.engagements(structure_ids=ids))


def _offer_presentations(touched: Touched) -> None:
    facts = m.OfferPresentation.__table__
    activity_ids = set(touched.activities)
    if touched.structures:
        activity_ids |= set(db.session.scalars(select(d.AST.c.activity_id).where(
            d.among(d.AST.c.structure_id, touched.structures))))
    deltas: Counter = Counter()
    for ids in _chunks(activity_ids):
        where = d.among(facts.c.activity_id, ids)
        deltas.subtract(_presentations_per_cell(where))
        db.session.execute(delete(facts).where(where))
        _insert(m.OfferPresentation, d.OFFER_PRESENTATION_COLUMNS, d.offer_presentations(activity_ids=ids))
        deltas.update(_presentations_per_cell(where))
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
        event_ids |= set(db.session.scalars(select(d.R.c.event_id).where(
            d.among(d.R.c.structure_id, touched.structures))))
    deltas: Counter = Counter()
    for ids in _chunks(event_ids):
        where = d.among(facts.c.event_id, ids)
        deltas.subtract(_presentations_per_cell(where, facts))
        db.session.execute(delete(facts).where(where))
        _insert(m.EventOfferPresentation, d.EVENT_OFFER_PRESENTATION_COLUMNS,
                d.event_offer_presentations(_dialect(), event_ids=ids))
        deltas.update(_presentations_per_cell(where, facts))
    _apply_cell_deltas(m.OfferPresentationCell, "presentations", deltas)


def _events(touched: Touched) -> None:
    facts = m.EventFact.__table__
    for ids in _chunks(touched.events):
        db.session.execute(delete(facts).where(d.among(facts.c.event_id, ids)))
        _insert(m.EventFact, d.EVENT_FACT_COLUMNS, d.event_facts(_dialect(), event_ids=ids))


def _structures(touched: Touched) -> None:
    """Re-derive the facts of the structures touched (the denominators count them per period)."""
    facts = m.StructureFact.__table__
    for ids in _chunks(touched.structures):
        db.session.execute(delete(facts).where(d.among(facts.c.structure_id, ids)))
        _insert(m.StructureFact, d.STRUCTURE_FACT_COLUMNS, d.structure_facts(structure_ids=ids))


# --- the entry points ----------------------------------------------------------------------------------

def apply_events(events) -> Touched:
    """Bring the read model in step with what ``events`` changed (the caller commits)."""
    touched = Touched()
    for event in events:
        touched.add_event(event)
    if not (touched.rebuild or touched.activities or touched.registrations or touched.events
            or touched.opportunities or touched.projects or touched.structures):
        return touched
    _lock()
    if touched.rebuild:
        _rebuild_all()
        return touched
    _structures(touched)
    _participations(touched)
    _opportunities(touched)
    _projects(touched)
    _offer_presentations(touched)
    _event_offer_presentations(touched)
    _events(touched)
    return touched


def _rebuild_steps(dialect: str) -> list[tuple[str, object]]:
    """The rebuild, as named steps in the order they must run (cells are read from their facts)."""
    steps = [
        ("structure_facts", lambda: _insert(m.StructureFact, d.STRUCTURE_FACT_COLUMNS, d.structure_facts())),
        ("participation_sources", lambda: (
            _insert(m.ParticipationSource, d.PARTICIPATION_COLUMNS, d.activity_participations()),
            _insert(m.ParticipationSource, d.PARTICIPATION_COLUMNS, d.registration_participations(dialect)))),
        ("participation_days", lambda: _insert(m.ParticipationDay, d.PARTICIPATION_DAY_COLUMNS,
                                               d.participation_days())),
    ]
    steps += [(f"participation_cells_{kind}", lambda kind=kind: _insert(
        m.ParticipationCell, d.PARTICIPATION_CELL_COLUMNS, d.participation_cells(kind, dialect)))
        for kind in d.PERIOD_KINDS]
    steps += [
        ("opportunity_facts", lambda: _insert(m.OpportunityFact, d.OPPORTUNITY_FACT_COLUMNS,
                                              d.opportunity_facts(dialect))),
        ("opportunity_cells", lambda: _insert(m.OpportunityCell, d.OPPORTUNITY_CELL_COLUMNS, d.opportunity_cells())),
        ("project_facts", lambda: _insert(m.ProjectFact, d.PROJECT_FACT_COLUMNS, d.project_facts())),
        ("engagements", lambda: _insert(m.Engagement, d.ENGAGEMENT_COLUMNS, d.engagements())),
        ("offer_presentations", lambda: _insert(m.OfferPresentation, d.OFFER_PRESENTATION_COLUMNS,
                                                d.offer_presentations())),
        ("event_offer_presentations", lambda: _insert(m.EventOfferPresentation,
                                                      d.EVENT_OFFER_PRESENTATION_COLUMNS,
                                                      d.event_offer_presentations(dialect))),
        ("offer_presentation_cells", lambda: _insert(m.OfferPresentationCell, d.OFFER_CELL_COLUMNS,
                                                     d.all_offer_presentation_cells())),
        ("event_facts", lambda: _insert(m.EventFact, d.EVENT_FACT_COLUMNS, d.event_facts(dialect))),
    ]
    return steps


def _timed(timings: dict[str, float] | None, name: str, step) -> None:
    started = time.perf_counter()
    step()
    if timings is not None:
        timings[name] = time.perf_counter() - started


def _prepare_postgresql(tables) -> None:
    # TRUNCATE leaves no dead rows for the inserts' unique checks to visit; the indexes are built once after
    # the bulk inserts rather than kept row by row. Both only within this transaction.
    db.session.execute(text("TRUNCATE " + ", ".join(table.name for table in tables)))
    db.session.execute(text("SET LOCAL work_mem = '256MB'"))
    db.session.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
    db.session.execute(text("SET LOCAL jit = off"))  # compiling each big statement costs more than it saves
    _drop_indexes(tables)


def _finish_postgresql(tables, timings, prefix: str = "") -> None:
    _timed(timings, prefix + "indexes", lambda: _create_indexes(tables))
    # The planner must not read these tables as the empty ones it last saw.
    _timed(timings, prefix + "analyze", lambda: [db.session.execute(text(f"ANALYZE {table.name}")) for table in tables])


def _rebuild_all(timings: dict[str, float] | None = None) -> None:
    """Derive the whole read model in the session's transaction; ``timings``, when given, receives the seconds
    each step took."""
    dialect = _dialect()
    tables = [model.__table__ for model in FACT_AND_CELL_TABLES]
    if dialect == "postgresql":
        _timed(timings, "truncate", lambda: _prepare_postgresql(tables))
    else:
        _timed(timings, "truncate", lambda: [db.session.execute(delete(table)) for table in reversed(tables)])
    for name, step in _rebuild_steps(dialect):
        _timed(timings, name, step)
    if dialect == "postgresql":
        _finish_postgresql(tables, timings)
    _set_state("built_at", utcnow().isoformat())


# The participation tables are derived from each other only: the rebuild on PostgreSQL builds them on a
# second connection while the first builds the others.
PARTICIPATION_TABLES = (m.ParticipationSource, m.ParticipationDay, m.ParticipationCell)
SNAPSHOT_RE = re.compile(r"^[0-9A-F]+-[0-9A-F]+-[0-9]+$")


PHASES = ("locked", "built")  # where the shares of a parallel rebuild wait for the main thread's word
LOCK_ATTEMPTS = 5


class _Meeting:
    """Where the main thread and the shares of a parallel rebuild meet at each phase: every share reports,
    then the main thread tells them all whether to go on."""

    def __init__(self, shares: int):
        self.shares = shares
        self.reports = {phase: threading.Semaphore(0) for phase in PHASES}
        self.decisions = {phase: threading.Event() for phase in PHASES}
        self.go: dict[str, bool] = {}

    def report(self, phase: str, wait: bool = True) -> bool:
        self.reports[phase].release()
        if not wait:
            return False
        self.decisions[phase].wait()
        return self.go[phase]

    def decide(self, phase: str, go) -> bool:
        for _ in range(self.shares):
            self.reports[phase].acquire()
        self.go[phase] = go()
        self.decisions[phase].set()
        return self.go[phase]


def _build_share(app, snapshot: str, models, steps, timings: dict, prefix: str, outcome: dict,
                 meeting: _Meeting) -> None:
    """One connection's share of the rebuild, in a transaction that sees the caller's snapshot.

    It first takes its tables (TRUNCATE) with a short lock timeout and reports; once every share holds
    its tables, nothing it does waits for a reader, so a reader cannot be caught between the two shares
    (a wait PostgreSQL's deadlock detector cannot see, the other share waiting here in Python). It builds
    and reports again; it commits only if every share succeeded. Whatever happens, it reports at every
    phase, so that the main thread never waits for it in vain."""
    reported = 0
    try:
        with app.app_context():
            try:
                tables = [model.__table__ for model in models]
                try:
                    db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
                    db.session.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
                    db.session.execute(text("SET LOCAL lock_timeout = '2s'"))
                    _timed(timings, prefix + "truncate", lambda: _prepare_postgresql(tables))
                    db.session.execute(text("SET LOCAL lock_timeout = 0"))
                except Exception as error:  # noqa: BLE001 - told to the main thread, which raises it
                    outcome.setdefault(prefix, error)
                reported += 1
                if not meeting.report("locked"):
                    return
                try:
                    for name, step in steps:
                        _timed(timings, name, step)
                    _finish_postgresql(tables, timings, prefix)
                except Exception as error:  # noqa: BLE001
                    outcome.setdefault(prefix, error)
                reported += 1
                if not meeting.report("built"):
                    return
                try:
                    db.session.commit()
                except Exception as error:  # noqa: BLE001 - the other share may have committed: said by the caller
                    outcome[prefix + "commit"] = error
            finally:
                db.session.rollback()  # a no-op after the commit
                db.session.remove()
    except BaseException as error:  # noqa: BLE001 - even an error outside the session is reported
        outcome.setdefault(prefix, error)
    finally:
        for phase in PHASES[reported:]:
            meeting.report(phase, wait=False)


def _lock_not_available(error) -> bool:
    return type(getattr(error, "orig", None)).__name__ == "LockNotAvailable"


def _rebuild_parallel(timings: dict[str, float] | None) -> None:
    """PostgreSQL: the participation tables and the others built at once, on two connections that share the
    snapshot of the caller's transaction (which holds the maintenance lock, so no batch interleaves); both
    commit, or neither does. Two cores halve the rebuild, whose steps are single statements PostgreSQL runs
    on one core each (it does not parallelise INSERT ... SELECT).

    A share that cannot take its tables within two seconds (a reader holds one) makes both start again,
    a few times. A commit that fails after the other share committed leaves the two halves of the read
    model from different rebuilds (each consistent): the error says so, and ``built_at`` is not updated."""
    from flask import current_app

    snapshot = db.session.execute(text("SELECT pg_export_snapshot()")).scalar()
    if not SNAPSHOT_RE.match(snapshot or ""):
        raise RuntimeError(f"unexpected snapshot id {snapshot!r}")
    steps = _rebuild_steps("postgresql")
    participation = [(name, step) for name, step in steps if name.startswith("participation_")]
    others = [(name, step) for name, step in steps if not name.startswith("participation_")]
    other_models = [model for model in FACT_AND_CELL_TABLES if model not in PARTICIPATION_TABLES]
    app = current_app._get_current_object()
    shares = (("participation: ", PARTICIPATION_TABLES, participation), ("", other_models, others))
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        outcome: dict = {}
        meeting = _Meeting(len(shares))
        share_timings = [{} for _ in shares]
        threads = [threading.Thread(target=_build_share, name=f"rebuild-{i}", daemon=True,
                                    args=(app, snapshot, models, chain, share_timings[i], prefix, outcome, meeting))
                   for i, (prefix, models, chain) in enumerate(shares)]
        for thread in threads:
            thread.start()
        locked = meeting.decide("locked", lambda: not outcome)
        if locked:
            meeting.decide("built", lambda: not outcome)
        for thread in threads:
            thread.join()
        if not locked and outcome and all(map(_lock_not_available, outcome.values())) and attempt < LOCK_ATTEMPTS:
            time.sleep(attempt)
            continue
        break
    failed = [(name, error) for name, error in outcome.items() if not name.endswith("commit")]
    if failed:
        raise failed[0][1]
    if outcome:
        raise RuntimeError("Reconstruction partielle : une des deux connexions n'a pas pu valider ; relancez "
                           "« crm indicators rebuild ».") from next(iter(outcome.values()))
    if timings is not None:
        for part in share_timings:
            timings.update(part)
    _set_state("built_at", utcnow().isoformat())


def _drop_indexes(tables) -> None:
    # IF EXISTS: a database may predate an index (created by a later migration); the rebuild creates it.
    for table in tables:
        for index in table.indexes:
            db.session.execute(DropIndex(index, if_exists=True))
        db.session.execute(DropConstraint(table.primary_key, if_exists=True))


def _create_indexes(tables) -> None:
    for table in tables:
        db.session.execute(AddConstraint(table.primary_key))
        for index in table.indexes:
            db.session.execute(CreateIndex(index))


def _set_state(key: str, value: str) -> None:
    row = db.session.get(m.IndicatorState, key)
    if row is None:
        db.session.add(m.IndicatorState(key=key, value=value, updated_at=utcnow()))
    else:
        row.value, row.updated_at = value, utcnow()
    db.session.flush()


def rebuild(timings: dict[str, float] | None = None) -> dict[str, int]:
    """Recompute the whole read model from the records; returns rows per table (``timings``, when given,
    receives the seconds each step took).

    On PostgreSQL the session's pending changes are committed first: the two connections that build the
    tables see committed records only, and must not wait for locks this session holds."""
    if _dialect() == "postgresql":
        db.session.commit()
        _lock()
        _rebuild_parallel(timings)
    else:
        _lock()
        _rebuild_all(timings)
    counts = row_counts()
    db.session.commit()
    return counts


def row_counts() -> dict[str, int]:
    return {model.__tablename__: db.session.scalar(select(func.count()).select_from(model.__table__))
            for model in FACT_AND_CELL_TABLES}


def ensure_built() -> None:
    """Build the read model once, before the first batch ever (a fresh database, or after migration 0007)."""
    if db.session.get(m.IndicatorState, "built_at") is not None:
        return
    _lock()
    if db.session.get(m.IndicatorState, "built_at") is None:  # another worker may have built it meanwhile
        _rebuild_all()
    db.session.commit()


@dataclass(frozen=True)
class Difference:
    table: str
    missing: int  # rows a recomputation has that the stored read model lacks
    extra: int  # rows stored that a recomputation does not have
    examples: list[str]

    def __str__(self) -> str:
        return (f"{self.table}: {self.missing} ligne(s) manquante(s), {self.extra} en trop"
                + (f" (ex. {'; '.join(self.examples)})" if self.examples else ""))


def check() -> list[Difference]:
    """Compare the stored read model with a recomputation from the records; nothing is changed."""
    differences = []
    names = [model.__tablename__ for model in FACT_AND_CELL_TABLES]
    try:
        _lock()
        for name in names:
            db.session.execute(text(f"DROP TABLE IF EXISTS check_{name}"))
            db.session.execute(text(f"CREATE TEMP TABLE check_{name} AS SELECT * FROM {name}"))
        _rebuild_all()
        for model in FACT_AND_CELL_TABLES:
            name = model.__tablename__
            columns = ", ".join(column.name for column in model.__table__.columns)
            missing = db.session.execute(text(
                f"SELECT {columns} FROM {name} EXCEPT SELECT {columns} FROM check_{name}")).all()
            extra = db.session.execute(text(
                f"SELECT {columns} FROM check_{name} EXCEPT SELECT {columns} FROM {name}")).all()
            if missing or extra:
                examples = [f"manque {tuple(row)}" for row in missing[:2]] + [f"en trop {tuple(row)}"
                                                                             for row in extra[:2]]
                differences.append(Difference(name, len(missing), len(extra), examples))
    finally:
        # The rollback undoes the rebuild. PostgreSQL drops the copies with it; SQLite (pysqlite runs DDL
        # outside the transaction) keeps them on their connection, hence the DROPs here and before CREATE.
        db.session.rollback()
        for name in names:
            db.session.execute(text(f"DROP TABLE IF EXISTS check_{name}"))
        db.session.commit()
    return differences


__all__ = ["Difference", "Touched", "apply_events", "check", "ensure_built", "rebuild"]
