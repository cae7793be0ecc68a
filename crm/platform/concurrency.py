"""Optimistic concurrency: a record edited by someone else since its form was loaded.

Versioned records (``version_id_col``) make SQLAlchemy raise ``StaleDataError`` when the row changed under
the edit; the services turn it into :class:`StaleEdit`, which the pages and the API show as a conflict.
"""

from __future__ import annotations

from sqlalchemy.orm.exc import StaleDataError

from crm.platform.extensions import db


class StaleEdit(ValueError):
    """The record changed since the form was loaded."""


def commit_changes() -> None:
    """Commit; a concurrent edit (optimistic lock) becomes StaleEdit."""
    try:
        db.session.commit()
    except StaleDataError as error:
        db.session.rollback()
        raise StaleEdit("Cet élément a été modifié entre-temps. Rechargez la page.") from error
