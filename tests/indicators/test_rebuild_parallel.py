"""The rebuild on two PostgreSQL connections: both halves commit or neither does, and a reader holding
the read model's tables delays it without a lock cycle nobody sees."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, text

from crm.indicators.readmodel import rebuild as mt
from crm.indicators.readmodel.check import check
from crm.platform.extensions import db
from tests.indicators.test_maintenance import _scenario
from workflows.dispatch import process_pending


@pytest.fixture(autouse=True)
def _postgresql_only():
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the rebuild uses two connections on PostgreSQL only")


def test_a_reader_of_both_halves_delays_the_rebuild_without_blocking_it(territory):
    """A dashboard's transaction reads a table of one half, then one of the other while the rebuild runs:
    the half that cannot take its tables gives up within seconds and both start again, instead of the
    reader and the rebuild waiting on each other until a lock timeout."""
    _scenario(territory)
    process_pending()
    engine = create_engine(db.engine.url)
    started, log = threading.Event(), {}

    def reader():
        with engine.connect() as conn:
            conn.execute(text("SELECT count(*) FROM ind_event_facts")).scalar()
            started.set()
            time.sleep(1.0)
            waited = time.monotonic()
            conn.execute(text("SELECT count(*) FROM ind_participation_cells")).scalar()
            log["reader_waited"] = time.monotonic() - waited
            conn.rollback()

    thread = threading.Thread(target=reader)
    thread.start()
    started.wait(10)
    began = time.monotonic()
    mt.rebuild()
    seconds = time.monotonic() - began
    thread.join(30)
    engine.dispose()
    assert seconds < 15 and log["reader_waited"] < 10, (seconds, log)
    assert check() == []


def test_a_failing_half_rolls_both_back(territory, monkeypatch):
    _scenario(territory)
    process_pending()
    before = mt.row_counts()
    original = mt._rebuild_steps

    def steps(dialect):
        return [(name, (lambda: 1 / 0) if name == "event_facts" else step) for name, step in original(dialect)]

    monkeypatch.setattr(mt, "_rebuild_steps", steps)
    with pytest.raises(ZeroDivisionError):
        mt.rebuild()
    db.session.rollback()
    monkeypatch.undo()
    assert mt.row_counts() == before
    assert check() == []


def test_a_commit_failing_after_the_other_is_reported(territory, monkeypatch):
    """The participation half commits, the other's commit fails (a deferred constraint): the rebuild
    raises rather than say it rebuilt everything, and ``built_at`` keeps its previous value."""
    _scenario(territory)
    process_pending()
    built_at = db.session.get(mt.m.IndicatorState, "built_at").value
    db.session.rollback()
    finish = mt._finish_postgresql

    def failing_finish(tables, timings, prefix=""):
        finish(tables, timings, prefix)
        if prefix == "":
            db.session.execute(
                text("CREATE TEMP TABLE boom (x int UNIQUE DEFERRABLE INITIALLY DEFERRED) ON COMMIT DROP")
            )
            db.session.execute(text("INSERT INTO boom VALUES (1), (1)"))

    monkeypatch.setattr(mt, "_finish_postgresql", failing_finish)
    with pytest.raises(RuntimeError, match="Reconstruction partielle"):
        mt.rebuild()
    db.session.rollback()
    assert db.session.get(mt.m.IndicatorState, "built_at").value == built_at
