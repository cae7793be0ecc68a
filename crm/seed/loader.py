"""Writing the seeded history: ids drawn ahead (so link rows and event payloads can be built before the
rows are stored), then COPY on PostgreSQL or an executemany INSERT elsewhere, all in the session's
transaction.

A large load on PostgreSQL (``bulk=True``, the national scale) follows the PostgreSQL manual's advice
for populating a database: the foreign keys of the tables it fills are dropped for the load and
re-created, hence checked in one pass each, at the end of the same transaction (a failure rolls it
all back, constraints included). Checking millions of rows one at a time cost PostgreSQL more than
twice the rest of the load. Dropping the constraints takes ACCESS EXCLUSIVE locks on these tables
(and blocks writes to ``structures`` and ``users``): the application waits for the seed to end.
(A writer thread streaming COPY while Python drew the next chunk was tried: Python is the
bottleneck, and the thread only added GIL contention.)
"""

from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import JSON, func, insert, select, text

from crm.platform.extensions import db


def _iso(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_ENCODER = json.JSONEncoder(default=_iso)


def dumps(value) -> str:
    """JSON text of a payload or of audit changes (dates in ISO 8601, as ``record_change`` stores them)."""
    return _ENCODER.encode(value)


def reserve_ids(table, count: int) -> list[int]:
    """``count`` fresh primary keys for ``table``.

    PostgreSQL: drawn from the table's sequence (safe alongside other writers). SQLite: the ids that
    follow the current maximum, which is what SQLite itself would give; the seed is the only writer.
    """
    if count <= 0:
        return []
    if db.session.connection().dialect.name == "postgresql":
        return list(
            db.session.scalars(
                text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"),
                {"table": table.name, "count": count},
            )
        )
    start = (db.session.scalar(select(func.max(table.c.id))) or 0) + 1
    return list(range(start, start + count))


def _json_positions(table, columns) -> list[int]:
    return [i for i, name in enumerate(columns) if isinstance(table.c[name].type, JSON)]


def copy_postgres(raw_connection, table, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """COPY ``rows`` into ``table`` on a psycopg connection (JSON columns take Python objects)."""
    # Lazy: only the PostgreSQL path needs the driver (an SQLite install never loads it).
    from psycopg import sql

    as_json = _json_positions(table, columns)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with raw_connection.cursor() as cursor, cursor.copy(statement) as copy:
        if not as_json:
            for row in rows:
                copy.write_row(row)
            return
        for row in rows:
            row = list(row)
            for i in as_json:
                row[i] = dumps(row[i])
            copy.write_row(row)


def copy_rows(table, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Write ``rows`` (tuples in the order of ``columns``) in the session's transaction.

    COPY skips Python-side defaults: pass every column that has one."""
    if not rows:
        return
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        copy_postgres(connection.connection.driver_connection, table, columns, rows)
        return
    as_json = _json_positions(table, columns)
    values = []
    for row in rows:
        value = dict(zip(columns, row))
        for i in as_json:
            value[columns[i]] = json.loads(dumps(row[i]))
        values.append(value)
    db.session.execute(insert(table), values)


class Loader:
    """Where the seeded history goes: ``reserve`` ids, ``write`` rows, ``finish`` (see the module)."""

    def __init__(self, tables: list, *, bulk: bool = False):
        connection = db.session.connection()
        self.bulk = bulk and connection.dialect.name == "postgresql"
        self._constraints: list[tuple[str, str, str]] = []
        if self.bulk:
            self._raw = connection.connection.driver_connection
            self._constraints = self._drop_foreign_keys([t.name for t in tables])

    @staticmethod
    def reserve(table, count: int) -> list[int]:
        return reserve_ids(table, count)

    @staticmethod
    def write(table, columns: tuple[str, ...], rows: list[tuple]) -> None:
        copy_rows(table, columns, rows)

    def finish(self) -> None:
        """Put the foreign keys back, each checked in one pass over its table."""
        if not self._constraints:
            return
        with self._raw.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '256MB'")
            for table, name, definition in self._constraints:
                cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
        self._constraints = []

    def _drop_foreign_keys(self, table_names: list[str]) -> list[tuple[str, str, str]]:
        with self._raw.cursor() as cursor:
            constraints = cursor.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) ORDER BY conrelid::regclass::text, conname",
                (table_names,),
            ).fetchall()
            for table, name, _ in constraints:
                cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        return [(table.strip('"'), name, definition) for table, name, definition in constraints]
