"""The read model's indexes and primary keys, dropped before a bulk rebuild on PostgreSQL and created once
after it (cheaper than keeping them row by row)."""

from __future__ import annotations

from sqlalchemy.schema import AddConstraint, CreateIndex, DropConstraint, DropIndex

from crm.platform.extensions import db


def drop_indexes(tables) -> None:
    # IF EXISTS: a database may predate an index (created by a later migration); the rebuild creates it.
    for table in tables:
        for index in table.indexes:
            db.session.execute(DropIndex(index, if_exists=True))
        db.session.execute(DropConstraint(table.primary_key, if_exists=True))


def create_indexes(tables) -> None:
    for table in tables:
        db.session.execute(AddConstraint(table.primary_key))
        for index in table.indexes:
            db.session.execute(CreateIndex(index))
