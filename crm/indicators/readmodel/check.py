"""``crm indicators check``: the stored read model compared with a recomputation from the records."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from crm.indicators.readmodel.rebuild import rebuild_all
from crm.indicators.readmodel.tables import FACT_AND_CELL_TABLES, lock
from crm.platform.extensions import db


@dataclass(frozen=True)
class Difference:
    table: str
    missing: int  # rows a recomputation has that the stored read model lacks
    extra: int  # rows stored that a recomputation does not have
    examples: list[str]

    def __str__(self) -> str:
        return f"{self.table}: {self.missing} ligne(s) manquante(s), {self.extra} en trop" + (
            f" (ex. {'; '.join(self.examples)})" if self.examples else ""
        )


def check() -> list[Difference]:
    """Compare the stored read model with a recomputation from the records; nothing is changed."""
    differences = []
    names = [model.__tablename__ for model in FACT_AND_CELL_TABLES]
    try:
        lock()
        for name in names:
            db.session.execute(text(f"DROP TABLE IF EXISTS check_{name}"))
            db.session.execute(text(f"CREATE TEMP TABLE check_{name} AS SELECT * FROM {name}"))
        rebuild_all()
        for model in FACT_AND_CELL_TABLES:
            name = model.__tablename__
            columns = ", ".join(column.name for column in model.__table__.columns)
            missing = db.session.execute(
                text(f"SELECT {columns} FROM {name} EXCEPT SELECT {columns} FROM check_{name}")
            ).all()
            extra = db.session.execute(
                text(f"SELECT {columns} FROM check_{name} EXCEPT SELECT {columns} FROM {name}")
            ).all()
            if missing or extra:
                examples = [f"manque {tuple(row)}" for row in missing[:2]] + [
                    f"en trop {tuple(row)}" for row in extra[:2]
                ]
                differences.append(Difference(name, len(missing), len(extra), examples))
    finally:
        # The rollback undoes the rebuild. PostgreSQL drops the copies with it; SQLite (pysqlite runs DDL
        # outside the transaction) keeps them on their connection, hence the DROPs here and before CREATE.
        db.session.rollback()
        for name in names:
            db.session.execute(text(f"DROP TABLE IF EXISTS check_{name}"))
        db.session.commit()
    return differences


__all__ = ["Difference", "check"]
