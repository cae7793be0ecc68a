"""Records written or read with Core statements, handed back as ORM objects.

For the hot paths (every API call looks up its token; ``POST /api/v1/activities`` logs an
activity, its links, maybe a task): building ORM objects from a query with eager joins, or
adding objects and flushing them, cost several times the SQL itself. The records still come
back as ORM objects, persistent in the session and loaded as written or read, so the callers
(pages, permission checks, API serialisers, tests) use them as before without another query.
"""

from __future__ import annotations

from functools import cache
from typing import TypeVar

from sqlalchemy import Table, insert, inspect
from sqlalchemy.orm import configure_mappers, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from crm.platform.extensions import db

Model = TypeVar("Model")


@cache
def _insert_returning_id(table: Table):
    return insert(table).returning(table.c.id)


@cache
def _insert(table: Table):
    return insert(table)


def attach_loaded(model: type[Model], values: dict, **related) -> Model:
    """The session's object for this row: the one it already holds, or a clean one made of ``values``.

    ``values`` holds the row's columns (with the primary key; a column left out is loaded on
    first access); ``related`` gives relationships their already-loaded value (a list for a
    collection), so that reading them costs no query.
    """
    mapper = inspect(model)
    if not mapper.configured:  # a new worker's first request may come here before any ORM query
        configure_mappers()
    key = mapper.identity_key_from_primary_key([values[column.key] for column in mapper.primary_key])
    record = db.session.identity_map.get(key)
    if record is not None:
        return record
    # Filled as a query's loading fills it (not through the constructor, whose per-attribute
    # events cost more than the rest), then known as the database has it: nothing to flush.
    record = mapper.class_manager.new_instance()
    record.__dict__.update(values)
    make_transient_to_detached(record)
    for name, value in related.items():
        set_committed_value(record, name, value)
    db.session.add(record)
    return record


def insert_record(model: type[Model], values: dict, **related) -> Model:
    """INSERT one row of ``model`` and return it as a clean persistent object (see ``attach_loaded``).

    ``values`` should hold every column but ``id``: defaults are not read back.
    """
    record_id = db.session.connection().execute(_insert_returning_id(model.__table__), values).scalar_one()
    return attach_loaded(model, {"id": record_id, **values}, **related)


def insert_links(table: Table, rows: list[dict]) -> None:
    """INSERT rows of a link table (one round trip for all of them)."""
    if rows:
        db.session.connection().execute(_insert(table), rows)
