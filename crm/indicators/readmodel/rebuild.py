"""Deriving the whole read model from the records: ``crm indicators rebuild``, the first batch ever
(:func:`ensure_built`), an event whose effect cannot be narrowed to records, and :mod:`.check`.

On PostgreSQL :func:`rebuild` builds the participation tables and the others at once, on two connections
sharing one snapshot (:func:`_rebuild_parallel`); elsewhere, and inside a batch, it runs in the session's
transaction (:func:`rebuild_all`).
"""

from __future__ import annotations

import re
import threading
import time

from flask import current_app
from sqlalchemy import delete, func, select, text

from crm.indicators.readmodel import deployment, usage
from crm.indicators.readmodel import derivations as d
from crm.indicators.readmodel import models as m
from crm.indicators.readmodel.indexes import create_indexes, drop_indexes
from crm.indicators.readmodel.tables import FACT_AND_CELL_TABLES, dialect_name, insert_derived, lock
from crm.platform.extensions import db
from crm.platform.models import utcnow


def _rebuild_steps(dialect: str) -> list[tuple[str, object]]:
    """The rebuild, as named steps in the order they must run (cells are read from their facts)."""
    steps = [
        ("structure_facts", lambda: insert_derived(m.StructureFact, d.STRUCTURE_FACT_COLUMNS, d.structure_facts())),
        (
            "participation_sources",
            lambda: (
                insert_derived(m.ParticipationSource, d.PARTICIPATION_COLUMNS, d.activity_participations()),
                insert_derived(m.ParticipationSource, d.PARTICIPATION_COLUMNS, d.registration_participations(dialect)),
            ),
        ),
        (
            "participation_days",
            lambda: insert_derived(m.ParticipationDay, d.PARTICIPATION_DAY_COLUMNS, d.participation_days()),
        ),
    ]
    steps += [
        (
            f"participation_cells_{kind}",
            lambda kind=kind: insert_derived(
                m.ParticipationCell, d.PARTICIPATION_CELL_COLUMNS, d.participation_cells(kind, dialect)
            ),
        )
        for kind in d.PERIOD_KINDS
    ]
    steps += [
        (
            "opportunity_facts",
            lambda: insert_derived(m.OpportunityFact, d.OPPORTUNITY_FACT_COLUMNS, d.opportunity_facts(dialect)),
        ),
        (
            "opportunity_cells",
            lambda: insert_derived(m.OpportunityCell, d.OPPORTUNITY_CELL_COLUMNS, d.opportunity_cells()),
        ),
        ("project_facts", lambda: insert_derived(m.ProjectFact, d.PROJECT_FACT_COLUMNS, d.project_facts())),
        ("engagements", lambda: insert_derived(m.Engagement, d.ENGAGEMENT_COLUMNS, d.engagements())),
        (
            "offer_presentations",
            lambda: insert_derived(m.OfferPresentation, d.OFFER_PRESENTATION_COLUMNS, d.offer_presentations()),
        ),
        (
            "event_offer_presentations",
            lambda: insert_derived(
                m.EventOfferPresentation, d.EVENT_OFFER_PRESENTATION_COLUMNS, d.event_offer_presentations(dialect)
            ),
        ),
        (
            "offer_presentation_cells",
            lambda: insert_derived(m.OfferPresentationCell, d.OFFER_CELL_COLUMNS, d.all_offer_presentation_cells()),
        ),
        ("event_facts", lambda: insert_derived(m.EventFact, d.EVENT_FACT_COLUMNS, d.event_facts(dialect))),
        ("deployment_cells", deployment.rebuild),  # the services' deployment (issue 14)
        ("usage_cells", usage.rebuild),  # their active usage
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
    drop_indexes(tables)


def _finish_postgresql(tables, timings, prefix: str = "") -> None:
    _timed(timings, prefix + "indexes", lambda: create_indexes(tables))
    # The planner must not read these tables as the empty ones it last saw.
    _timed(timings, prefix + "analyze", lambda: [db.session.execute(text(f"ANALYZE {table.name}")) for table in tables])


def rebuild_all(timings: dict[str, float] | None = None) -> None:
    """Derive the whole read model in the session's transaction; ``timings``, when given, receives the seconds
    each step took."""
    dialect = dialect_name()
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


def _build_share(
    app, snapshot: str, models, steps, timings: dict, prefix: str, outcome: dict, meeting: _Meeting
) -> None:
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
        threads = [
            threading.Thread(
                target=_build_share,
                name=f"rebuild-{i}",
                daemon=True,
                args=(app, snapshot, models, chain, share_timings[i], prefix, outcome, meeting),
            )
            for i, (prefix, models, chain) in enumerate(shares)
        ]
        for thread in threads:
            thread.start()
        locked = meeting.decide("locked", lambda outcome=outcome: not outcome)
        if locked:
            meeting.decide("built", lambda outcome=outcome: not outcome)
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
        raise RuntimeError(
            "Reconstruction partielle : une des deux connexions n'a pas pu valider ; relancez "
            "« crm indicators rebuild »."
        ) from next(iter(outcome.values()))
    if timings is not None:
        for part in share_timings:
            timings.update(part)
    _set_state("built_at", utcnow().isoformat())


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
    if dialect_name() == "postgresql":
        db.session.commit()
        lock()
        _rebuild_parallel(timings)
    else:
        lock()
        rebuild_all(timings)
    counts = row_counts()
    db.session.commit()
    return counts


def row_counts() -> dict[str, int]:
    return {
        model.__tablename__: db.session.scalar(select(func.count()).select_from(model.__table__))
        for model in FACT_AND_CELL_TABLES
    }


def ensure_built() -> None:
    """Build the read model once, before the first batch ever (a fresh database, or after migration 0007)."""
    if db.session.get(m.IndicatorState, "built_at") is not None:
        return
    lock()
    if db.session.get(m.IndicatorState, "built_at") is None:  # another worker may have built it meanwhile
        rebuild_all()
    db.session.commit()
