"""SQL helpers shared by the floors above."""

from __future__ import annotations

from sqlalchemy import any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY

from crm.platform.extensions import db


def among(column, values):
    """``column IN values``. On PostgreSQL a list of values is one array parameter: an IN list of hundreds or
    thousands of values is as many bind parameters, which SQLAlchemy and psycopg spent more CPU rendering (and
    psycopg parsing: it caches no statement longer than 4 KB) than the database spent running the statement."""
    if isinstance(values, (list, tuple, set, frozenset)) and db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)
