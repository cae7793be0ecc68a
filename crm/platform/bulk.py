"""Bulk writes for imports: rows inserted by ``COPY`` on PostgreSQL (an INSERT elsewhere), and a temporary
table of staged rows that set-based statements then compare with and write into the real tables.

``COPY`` is fed text lines formatted here rather than ``write_row``: psycopg adapts every value of every row
(and dumps JSON through its own wrapper), which cost a national usage import (1.2 M figures, 100,000 audit
entries and events) about 20 µs a row; formatting the text is a few string operations.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from sqlalchemy import JSON, insert

COPY_BATCH = 20_000  # lines sent to COPY at once
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value, as_json: bool = False) -> str:
    """One value in COPY's text format (``\\N`` for NULL, backslash escapes)."""
    kind = type(value)
    if kind is int:
        return str(value)
    if value is None:
        return "\\N"
    if as_json:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_ESCAPES)
    if kind is str:
        return value.translate(_ESCAPES)
    if kind is bool:
        return "t" if value else "f"
    if kind is datetime or kind is date:
        return value.isoformat()
    return str(value).translate(_ESCAPES)


def copy_lines(connection, table_name: str, columns: Sequence[str], rows: Iterable[Sequence], json_columns=()) -> None:
    """``COPY table (columns) FROM STDIN`` of ``rows`` (sequences in the columns' order), in the connection's
    transaction. PostgreSQL only."""
    from psycopg import sql

    as_json = [name in json_columns for name in columns]
    plain = not any(as_json)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table_name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with connection.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        batch: list[str] = []
        for row in rows:
            if plain:
                batch.append("\t".join([copy_text(value) for value in row]))
            else:
                batch.append("\t".join([copy_text(value, j) for value, j in zip(row, as_json, strict=True)]))
            if len(batch) >= COPY_BATCH:
                copy.write("\n".join(batch) + "\n")
                batch.clear()
        if batch:
            copy.write("\n".join(batch) + "\n")


def bulk_insert(connection, table, rows: list[dict], chunk: int = 5_000) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in the connection's transaction: ``COPY`` on
    PostgreSQL, INSERTs of ``chunk`` rows elsewhere. COPY skips Python-side column defaults: rows must carry
    every column that has one."""
    if not rows:
        return
    if connection.dialect.name != "postgresql":
        for start in range(0, len(rows), chunk):
            connection.execute(insert(table), rows[start : start + chunk])
        return
    columns = list(rows[0])
    json_columns = {name for name in columns if isinstance(table.c[name].type, JSON)}
    copy_lines(connection, table.name, columns, ([row[name] for name in columns] for row in rows), json_columns)


class Stage:
    """A temporary table of rows to compare with and write into the real tables in SQL (dropped at the end of
    the transaction on PostgreSQL, by :meth:`drop` elsewhere). ``columns``: (name, SQL type) pairs."""

    def __init__(self, connection, name: str, columns: Sequence[tuple[str, str]]):
        self.connection, self.name, self.columns = connection, name, columns
        self.postgresql = connection.dialect.name == "postgresql"
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
        definition = ", ".join(f"{column} {kind}" for column, kind in columns)
        suffix = " ON COMMIT DROP" if self.postgresql else ""
        connection.exec_driver_sql(f"CREATE TEMPORARY TABLE {name} ({definition}){suffix}")

    def load(self, rows: Iterable[Sequence], chunk: int = 5_000) -> None:
        names = [column for column, _ in self.columns]
        if self.postgresql:
            copy_lines(self.connection, self.name, names, rows)
            # A temporary table is never analysed by autovacuum: without statistics the planner guesses its
            # size and may pick a nested loop over a million rows.
            self.connection.exec_driver_sql(f"ANALYZE {self.name}")
            return
        statement = f"INSERT INTO {self.name} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})"
        cursor = self.connection.connection.driver_connection.cursor()
        batch: list[Sequence] = []
        for row in rows:
            batch.append(tuple(value.isoformat() if type(value) is date else value for value in row))
            if len(batch) >= chunk:
                cursor.executemany(statement, batch)
                batch.clear()
        if batch:
            cursor.executemany(statement, batch)
        cursor.close()

    def drop(self) -> None:
        if not self.postgresql:
            self.connection.exec_driver_sql(f"DROP TABLE IF EXISTS {self.name}")
