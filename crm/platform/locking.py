"""Every lock the application takes, held until the transaction ends, and its SQLite fallback.

PostgreSQL has row locks (``SELECT ... FOR UPDATE``) and transaction-level advisory locks
(``pg_advisory_xact_lock``); SQLite has neither, only one write lock for the whole database, taken by the
first write of a transaction. So where PostgreSQL locks a row or a key, SQLite takes its write lock
(:func:`sqlite_write_lock`): coarser, but it serialises the same critical sections.

The advisory-lock keys are listed here, one key space per feature, so that two features never share one.
"""

from __future__ import annotations

from sqlalchemy import Select, text

from crm.platform.extensions import db

# One-key spaces: pg_advisory_xact_lock(key).
FINESS_IMPORT = 1_100_507  # the FINESS layout's number: one import at a time
INDICATOR_MAINTENANCE = 762_441_001  # the read model's batches, rebuild and check
# Two-key spaces: pg_advisory_xact_lock(space, key), apart from the one-key locks.
LOGIN_ADDRESS = 762_441  # the login attempts from one client address
REGISTRATION_ADDRESS = 762_441_101  # the public registrations from one client address
INDICATOR_ACTIVITY = 762_441_201  # the read model's facts of one activity (batches of activity events only)
INDICATOR_STRUCTURE = 762_441_202  # the read model's participation days of one structure (same)
USAGE_IMPORT = 762_441_301  # the usage figures of one offer: one import or push at a time


def is_postgresql(bind=None) -> bool:
    """Whether ``bind`` (a connection, an engine; the session's by default) talks to PostgreSQL."""
    return (bind if bind is not None else db.session.get_bind()).dialect.name == "postgresql"


def is_sqlite(bind=None) -> bool:
    return (bind if bind is not None else db.session.get_bind()).dialect.name == "sqlite"


def sqlite_write_lock(connection=None) -> None:
    """SQLite: take the database's write lock now, with a write that changes nothing (it also opens the
    transaction, which the driver defers to the first write). Nothing on PostgreSQL.

    Must come first in its transaction: a transaction that has read and then waits for the write lock
    can deadlock with another reader doing the same.
    """
    connection = connection if connection is not None else db.session.connection()
    if connection.dialect.name == "sqlite":
        connection.execute(text("UPDATE outbox_events SET attempts = attempts WHERE id = -1"))


def advisory_lock(space: int, key: int | str | None = None, *, on_sqlite: bool = True) -> None:
    """Hold the lock of ``space`` (or of ``key`` within ``space``; a string is hashed by PostgreSQL) until
    the transaction ends. On SQLite the database's write lock, unless ``on_sqlite`` is false (the
    section's own writes serialise it well enough there)."""
    if not is_postgresql():
        if on_sqlite:
            sqlite_write_lock()
        return
    if key is None:
        db.session.execute(text("SELECT pg_advisory_xact_lock(:space)"), {"space": space})
    elif isinstance(key, str):
        db.session.execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(:key))"), {"space": space, "key": key})
    else:
        db.session.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": space, "key": key})


def advisory_lock_shared(space: int) -> None:
    """Hold ``space``'s lock shared with other holders of it, excluding :func:`advisory_lock` on ``space``, until
    the transaction ends (PostgreSQL; nothing on SQLite, whose writes are serialised anyway)."""
    if is_postgresql():
        db.session.execute(text("SELECT pg_advisory_xact_lock_shared(:space)"), {"space": space})


def advisory_locks(space: int, keys) -> None:
    """Hold the locks of all ``keys`` (integers) within ``space`` until the transaction ends, taken in ascending
    order in one statement, so that two transactions locking overlapping sets wait for each other instead of
    deadlocking (PostgreSQL; nothing on SQLite)."""
    keys = sorted(set(keys))
    if keys and is_postgresql():
        db.session.execute(
            text("SELECT count(pg_advisory_xact_lock(:space, key)) FROM unnest(CAST(:keys AS integer[])) AS key"),
            {"space": space, "keys": keys},
        )


def lock_row(model, row_id: int) -> None:
    """Hold the row of ``model`` with ``row_id`` until the transaction ends (SQLite: the write lock)."""
    if is_postgresql():
        db.session.execute(for_update(db.select(model.id).where(model.id == row_id)))
    else:
        sqlite_write_lock()


def for_update(statement: Select, *, skip_locked: bool = False) -> Select:
    """``statement`` locking the rows it reads (PostgreSQL; SQLite ignores it: take
    :func:`sqlite_write_lock` first where the section must be serialised there too). ``skip_locked``:
    rows another transaction holds are left out instead of waited for."""
    return statement.with_for_update(skip_locked=skip_locked)
